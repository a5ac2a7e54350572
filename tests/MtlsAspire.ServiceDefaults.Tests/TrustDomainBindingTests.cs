using System.Net;
using System.Net.Http.Json;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// A trust bundle that holds another trust domain's root as well as ours (federation, or a root added by mistake):
/// that root vouches for its own trust domain only, never for a SPIFFE ID of ours.
/// </summary>
public class TrustDomainBindingTests
{
    private const string OurOrder = "spiffe://mtls-aspire.local/ns/development/sa/order";

    /// <summary>A server trusting <paramref name="ca"/>'s root too, and a client presenting a leaf of <paramref name="ca"/> claiming <paramref name="spiffeId"/>.</summary>
    private static async Task<(HttpClient Client, System.Security.Cryptography.X509Certificates.X509Certificate2 Leaf)> ClientUnder(Scenario scenario,
        ForeignCa ca, string spiffeId)
    {
        var intermediate = ca.AddIntermediate();
        var leaf = ca.Leaf(intermediate, spiffeId);
        await scenario.UpdateServerFilesAsync(ca.AddedTo);
        return (RawTlsClient.Create(leaf, [intermediate], scenario.TrustedRoots), leaf);
    }

    [Fact]
    public async Task A_leaf_claiming_our_trust_domain_under_another_trust_domains_root_is_refused_naming_both_certificates()
    {
        await using var scenario = await Scenario.StartAsync();
        using var partner = new ForeignCa("partner.example");
        var (created, impostor) = await ClientUnder(scenario, partner, OurOrder);
        using var client = created;

        await HandshakeTests.AssertRejected(scenario, client, "trust-domain-mismatch", impostor.Subject, impostor.SerialNumber, OurOrder,
            partner.Root.Subject, partner.Root.SerialNumber, "spiffe://partner.example");
    }

    [Fact]
    public async Task The_other_trust_domains_own_identities_still_complete_the_handshake_and_get_a_401()
    {
        await using var scenario = await Scenario.StartAsync();
        using var partner = new ForeignCa("partner.example");
        using var client = (await ClientUnder(scenario, partner, "spiffe://partner.example/ns/development/sa/order")).Client;

        var response = await client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task An_unmarked_root_in_the_bundle_is_taken_as_one_of_our_trust_domain()
    {
        // Roots made before roots carried spiffe://{trust domain}, and cert-manager's self-signed root, say nothing:
        // a bundle is one trust domain's, so they vouch for ours (and only ours), as they always did.
        await using var scenario = await Scenario.StartAsync();
        using var unmarked = new ForeignCa(trustDomain: null);
        using var client = (await ClientUnder(scenario, unmarked, OurOrder)).Client;

        var response = await client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(OurOrder, (await response.Content.ReadFromJsonAsync<Scenario.Caller>())!.SpiffeId);
    }

    [Fact]
    public async Task A_client_refuses_a_server_claiming_our_trust_domain_under_another_trust_domains_root()
    {
        await using var scenario = await Scenario.StartAsync();
        using var partner = new ForeignCa("partner.example");
        var intermediate = partner.AddIntermediate();
        var impostor = partner.Leaf(intermediate, "spiffe://mtls-aspire.local/ns/development/sa/payment");
        await using var server = new RawTlsServer(impostor, [intermediate]);
        var clientDirectory = scenario.PlainCopyOf(scenario.IssueClient("order"));
        File.AppendAllText(Path.Combine(clientDirectory, "ca.crt"), "\n" + partner.BundlePem);
        File.AppendAllText(Path.Combine(clientDirectory, "crl.pem"), "\n" + partner.CrlPem);
        await using var client = await MtlsTestClient.StartAsync(clientDirectory, server.Https, "payment");

        var error = await Assert.ThrowsAsync<MtlsHandshakeException>(() => client.Pooled().GetAsync("/api/whoami"));

        Assert.Equal(RejectionReason.TrustDomainMismatch, error.Reason);
        Assert.Contains($"'{impostor.Subject}' (serial {impostor.SerialNumber}) claims spiffe://mtls-aspire.local/ns/development/sa/payment", error.Message,
            StringComparison.Ordinal);
        Assert.Contains($"the root '{partner.Root.Subject}' (serial {partner.Root.SerialNumber})", error.Message, StringComparison.Ordinal);
    }
}
