using System.Net;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Storage;
using MtlsAspire.CertBootstrap.Tests;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

public class TrustBundleTests
{
    [Fact]
    public async Task A_bundle_with_two_roots_trusts_clients_of_both_once_it_is_loaded_even_over_a_resumed_session()
    {
        await using var scenario = await Scenario.StartAsync();
        using var other = new TestPki();
        var otherDirectory = other.Authority.Issue(new LeafRequest("order")).Directory;
        var otherFiles = new CredentialDirectory(otherDirectory).Read();
        using var otherCredentials = ServiceCredentials.Load(new CredentialDirectory(otherDirectory));
        using var otherClient = RawTlsClient.Create(otherCredentials.Leaf, otherCredentials.Intermediates, scenario.TrustedRoots);
        using var ownClient = scenario.RawClientFor(scenario.IssueClient("order"));

        // Refused before the bundle names its root. The client got a TLS session ticket anyway and resumes it below
        // without sending its intermediate: the server must still build the chain.
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => otherClient.GetAsync(new Uri(scenario.Server.Https, "/api/whoami")));

        var generation = scenario.Server.Store.Current.Generation;
        new CredentialDirectory(scenario.ServerDirectory).Update(
            files => files with { BundlePem = files.BundlePem + otherFiles.BundlePem, CrlPem = files.CrlPem + otherFiles.CrlPem }, DateTimeOffset.UtcNow);
        await Eventually.True(() => scenario.Server.Store.Current.Generation > generation, "the server loaded the two-root bundle");

        Assert.Equal(2, scenario.Server.Store.Current.TrustedRoots.Count);
        Assert.Equal(HttpStatusCode.OK, (await otherClient.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ownClient.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);
    }
}
