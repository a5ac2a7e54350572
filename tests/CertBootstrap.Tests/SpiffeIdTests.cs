using MtlsAspire.Verification.Identity;

namespace MtlsAspire.CertBootstrap.Tests;

public class SpiffeIdTests
{
    [Theory]
    [InlineData("spiffe://example.org", "example.org", "")]
    [InlineData("spiffe://example.org/workload", "example.org", "/workload")]
    [InlineData("spiffe://mtls-aspire.local/ns/development/sa/order", "mtls-aspire.local", "/ns/development/sa/order")]
    [InlineData("spiffe://trust_domain-1.example/Path.With-Mixed_Case/123", "trust_domain-1.example", "/Path.With-Mixed_Case/123")]
    [InlineData("spiffe://a/b/c/d", "a", "/b/c/d")]
    public void Valid_ids_parse_into_trust_domain_and_path(string text, string trustDomain, string path)
    {
        var id = SpiffeId.Parse(text);

        Assert.Equal(trustDomain, id.TrustDomain);
        Assert.Equal(path, id.Path);
        Assert.Equal(text, id.ToString());
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("http://example.org/workload", "scheme")]
    [InlineData("SPIFFE://example.org/workload", "scheme")]
    [InlineData("spiffe:/example.org/workload", "scheme")]
    [InlineData("spiffe://", "trust domain is missing")]
    [InlineData("spiffe:///workload", "trust domain is missing")]
    [InlineData("spiffe://Example.org/workload", "lowercase")]
    [InlineData("spiffe://example.org:8080/workload", "port")]
    [InlineData("spiffe://user@example.org/workload", "user info")]
    [InlineData("spiffe://example.org/workload?x=1", "query")]
    [InlineData("spiffe://example.org/workload#frag", "fragment")]
    [InlineData("spiffe://example.org/", "end with '/'")]
    [InlineData("spiffe://example.org/workload/", "end with '/'")]
    [InlineData("spiffe://example.org//workload", "empty segments")]
    [InlineData("spiffe://example.org/./workload", "'.' or '..'")]
    [InlineData("spiffe://example.org/../workload", "'.' or '..'")]
    [InlineData("spiffe://example.org/work%20load", "path segments")]
    [InlineData("spiffe://example.org/work load", "path segments")]
    [InlineData("spiffe://exa mple.org/workload", "trust domain may hold only")]
    public void Invalid_ids_are_rejected_with_the_reason(string text, string reasonFragment)
    {
        Assert.False(SpiffeId.TryParse(text, out _, out var reason));
        Assert.Contains(reasonFragment, reason, StringComparison.Ordinal);

        var error = Assert.Throws<FormatException>(() => SpiffeId.Parse(text));
        Assert.Contains(reasonFragment, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_id_longer_than_2048_characters_is_rejected()
    {
        Assert.False(SpiffeId.TryParse("spiffe://example.org/" + new string('a', 2048), out _, out var reason));
        Assert.Contains("2048", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Workload_ids_follow_the_namespace_and_service_account_convention()
    {
        var id = SpiffeId.ForWorkload("mtls-aspire.local", "development", "order");

        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/order", id.ToString());
        Assert.Equal("order", id.ServiceName);
        Assert.True(id.IsMemberOf("mtls-aspire.local"));
        Assert.False(id.IsMemberOf("other.local"));
    }

    [Theory]
    [InlineData("Order")]
    [InlineData("-order")]
    [InlineData("order-")]
    [InlineData("or/der")]
    [InlineData("")]
    public void Workload_ids_refuse_service_names_that_are_not_dns_labels(string service) =>
        Assert.Throws<ArgumentException>(() => SpiffeId.ForWorkload("mtls-aspire.local", "development", service));

    [Fact]
    public void Ids_compare_by_value_and_default_is_empty()
    {
        Assert.Equal(SpiffeId.Parse("spiffe://a/b"), SpiffeId.Parse("spiffe://a/b"));
        Assert.NotEqual(SpiffeId.Parse("spiffe://a/b"), SpiffeId.Parse("spiffe://a/B"));
        Assert.True(default(SpiffeId).IsEmpty);
        Assert.Null(SpiffeId.Parse("spiffe://a/b").ServiceName);
    }
}
