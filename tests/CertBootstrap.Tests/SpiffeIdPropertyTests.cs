using CsCheck;
using MtlsAspire.Verification.Identity;

namespace MtlsAspire.CertBootstrap.Tests;

/// <summary>SPIFFE ID format and parse are inverses, and whatever breaks the grammar is refused with a reason.</summary>
public class SpiffeIdPropertyTests
{
    private const string TrustDomainChars = "abcdefghijklmnopqrstuvwxyz0123456789.-_";
    private const string PathChars = TrustDomainChars + "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    private const string LabelChars = "abcdefghijklmnopqrstuvwxyz0123456789";

    private static readonly Gen<string> s_trustDomain = Gen.Char[TrustDomainChars].Array[1, 40].Select(c => new string(c));

    private static readonly Gen<string> s_path = Gen.Char[PathChars].Array[1, 12].Select(c => new string(c))
        .Where(segment => segment is not ("." or ".."))
        .Array[0, 6].Select(segments => string.Concat(segments.Select(s => "/" + s)));

    // A DNS label: 1-63 lowercase letters, digits and '-', not starting or ending with '-'.
    private static readonly Gen<string> s_name = Gen.OneOf(
        Gen.Char[LabelChars].Select(c => c.ToString()),
        Gen.Select(Gen.Char[LabelChars], Gen.Char[LabelChars + "-"].Array[0, 61], Gen.Char[LabelChars], (first, middle, last) => first + new string(middle) + last));

    [Fact]
    public void A_formatted_id_parses_back_to_its_trust_domain_and_path() =>
        Gen.Select(s_trustDomain, s_path).Sample((trustDomain, path) =>
        {
            var id = SpiffeId.Parse($"spiffe://{trustDomain}{path}");

            Assert.Equal(trustDomain, id.TrustDomain);
            Assert.Equal(path, id.Path);
            Assert.Equal(id, SpiffeId.Parse(id.ToString()));
        }, iter: 1000);

    [Fact]
    public void A_workload_id_formats_and_parses_back_naming_its_service() =>
        Gen.Select(s_trustDomain, s_name, s_name).Sample((trustDomain, environment, service) =>
        {
            var id = SpiffeId.ForWorkload(trustDomain, environment, service);
            var parsed = SpiffeId.Parse(id.ToString());

            Assert.Equal(id, parsed);
            Assert.Equal(service, parsed.ServiceName);
            Assert.True(parsed.IsMemberOf(trustDomain));
        }, iter: 1000);

    [Fact]
    public void Any_text_either_parses_and_formats_back_to_itself_or_is_refused_with_its_reason() =>
        Gen.Select(Gen.OneOf(Gen.Const(""), Gen.Const("spiffe://"), Gen.Const("spiffe://a")), Gen.Char["spife:/aZ09.-_?#@%!:"].Array[0, 30])
            .Sample((prefix, rest) =>
            {
                var text = prefix + new string(rest);
                if (SpiffeId.TryParse(text, out var id, out var reason))
                {
                    Assert.Equal(text, id.ToString());
                    Assert.Equal(id, SpiffeId.Parse(text));
                }
                else
                {
                    var error = Assert.Throws<FormatException>(() => SpiffeId.Parse(text));
                    Assert.Contains(reason, error.Message, StringComparison.Ordinal);
                }
            }, iter: 2000);

    [Fact]
    public void An_id_broken_in_any_one_way_is_refused_with_a_format_error() =>
        Gen.Select(s_trustDomain, s_path, Gen.Int[0, Breaks.Length - 1]).Sample((trustDomain, path, how) =>
        {
            var text = Breaks[how](trustDomain, path);

            Assert.False(SpiffeId.TryParse(text, out _, out var reason), text);
            Assert.Contains(reason, Assert.Throws<FormatException>(() => SpiffeId.Parse(text)).Message, StringComparison.Ordinal);
        }, iter: 1000);

    private static readonly Func<string, string, string>[] Breaks =
    [
        (td, path) => $"SPIFFE://{td}{path}",
        (td, path) => $"spiffe:/{td}{path}",
        (td, path) => $"https://{td}{path}",
        (_, path) => $"spiffe://{path}/x",
        (td, path) => $"spiffe://{td.ToUpperInvariant()}X{path}",
        (td, path) => $"spiffe://{td}:8443{path}",
        (td, path) => $"spiffe://user@{td}{path}",
        (td, path) => $"spiffe://{td}{path}?query",
        (td, path) => $"spiffe://{td}{path}#fragment",
        (td, path) => $"spiffe://{td}{path}/",
        (td, path) => $"spiffe://{td}{path}//x",
        (td, path) => $"spiffe://{td}{path}/./x",
        (td, path) => $"spiffe://{td}{path}/..",
        (td, path) => $"spiffe://{td}{path}/%41",
        (td, path) => $"spiffe://{new string('a', 256)}{td}{path}",
        (td, path) => $"spiffe://{td}{path}/{new string('a', 2048)}",
    ];
}
