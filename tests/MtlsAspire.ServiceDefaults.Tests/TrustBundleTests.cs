using System.Net;
using System.Net.Http.Json;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Storage;
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

        await scenario.UpdateServerFilesAsync(files => Scenario.AlsoTrusting(files, otherFiles));

        Assert.Equal(2, scenario.Server.Store.Current.TrustedRoots.Count);
        Assert.Equal(HttpStatusCode.OK, (await otherClient.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ownClient.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);
    }

    [Fact]
    public async Task A_client_under_an_intermediate_first_seen_after_start_is_authenticated_once_its_root_is_in_the_bundle()
    {
        await using var scenario = await Scenario.StartAsync();
        using var ownClient = scenario.RawClientFor(scenario.IssueClient("order"));
        // The authentication handler's trust is built now, from the one-root bundle.
        Assert.Equal(HttpStatusCode.OK, (await ownClient.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);

        using var other = new TestPki();
        var otherDirectory = other.Authority.Issue(new LeafRequest("order")).Directory;
        var otherFiles = new CredentialDirectory(otherDirectory).Read();
        await scenario.UpdateServerFilesAsync(files => Scenario.AlsoTrusting(files, otherFiles));

        // Its intermediate reaches the server only in this handshake; the handler sees only the leaf, yet must build the chain.
        using var otherClient = scenario.RawClientFor(otherDirectory);
        var response = await otherClient.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/order", (await response.Content.ReadFromJsonAsync<Scenario.Caller>())!.SpiffeId);
    }

    [Fact]
    public async Task A_server_moved_to_another_root_authenticates_that_roots_clients_without_a_restart()
    {
        await using var scenario = await Scenario.StartAsync();
        using var ownClient = scenario.RawClientFor(scenario.IssueClient("order"));
        Assert.Equal(HttpStatusCode.OK, (await ownClient.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);

        // The server's own leaf is re-issued under another root; its bundle trusts both roots. Its new intermediate is
        // known from the moment the files load, so only the new generation itself can bring the new root to the handler.
        using var other = new TestPki();
        var otherServer = new CredentialDirectory(other.Authority.Issue(new LeafRequest("payment") { DnsNames = ["localhost"], IPAddresses = [IPAddress.Loopback] }).Directory).Read();
        var otherClientDirectory = other.Authority.Issue(new LeafRequest("order")).Directory;
        await scenario.UpdateServerFilesAsync(files => Scenario.AlsoTrusting(files, otherServer) with
        {
            CertificatePem = otherServer.CertificatePem,
            KeyPem = otherServer.KeyPem,
        });

        using var otherCredentials = ServiceCredentials.Load(new CredentialDirectory(otherClientDirectory));
        using var otherClient = RawTlsClient.Create(otherCredentials.Leaf, otherCredentials.Intermediates, otherCredentials.TrustedRoots);
        var response = await otherClient.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(otherCredentials.Leaf.SerialNumber, (await response.Content.ReadFromJsonAsync<Scenario.Caller>())!.Serial);
    }
}
