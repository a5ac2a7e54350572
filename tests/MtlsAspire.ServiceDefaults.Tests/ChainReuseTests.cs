using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Tests;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// SslStream builds the client's chain before the server's callback; the callback takes that chain when it built cleanly
/// and its dates hold on the server's clock, and builds its own otherwise. Over real TLS, each verdict and its words are
/// the ones the full check (no chain given, as for a resumed session) gives for the same certificate at the same time.
/// </summary>
public class ChainReuseTests
{
    private const string OurOrder = "spiffe://mtls-aspire.local/ns/development/sa/order";

    /// <summary>What the full check, building its own chain, says of <paramref name="leaf"/> now on <paramref name="clock"/>.</summary>
    private static PeerVerdict FullCheck(Scenario scenario, TimeProvider clock, X509Certificate2 leaf, IReadOnlyCollection<X509Certificate2> intermediates) =>
        scenario.Server.Store.Current.Validate(new PeerCertificate(leaf, intermediates, string.Empty), PeerSide.Server, clock.GetUtcNow());

    /// <summary>A handshake of <paramref name="client"/> that the server refuses: the reason and words of its first refusal of <paramref name="leaf"/>.</summary>
    private static async Task<(string? Reason, string? Detail)> RefusalOf(Scenario scenario, HttpClient client, X509Certificate2 leaf)
    {
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami")));
        var refusal = scenario.Server.Logs.GetSnapshot().First(r => r.Level == LogLevel.Warning
            && r.Message.Contains("refused the client certificate", StringComparison.Ordinal) && r.GetStructuredStateValue("Serial") == leaf.SerialNumber);
        return (refusal.GetStructuredStateValue("Reason"), refusal.GetStructuredStateValue("Detail"));
    }

    /// <summary>The refusal over TLS is the full check's, word for word; <paramref name="reused"/> says which path the handshake took.</summary>
    private static async Task AssertSameRefusal(Scenario scenario, TimeProvider clock, HttpClient client, X509Certificate2 leaf,
        IReadOnlyCollection<X509Certificate2> intermediates, string reason, bool reused)
    {
        var before = scenario.Server.Store.Current.ReusedChains;
        var (handshakeReason, handshakeDetail) = await RefusalOf(scenario, client, leaf);
        var afterHandshake = scenario.Server.Store.Current.ReusedChains;
        var full = FullCheck(scenario, clock, leaf, intermediates);

        Assert.False(full.Accepted);
        Assert.Equal(reason, full.Reason!.Value.ToTagValue());
        Assert.Equal(reason, handshakeReason);
        Assert.Equal(PeerText.Cut(full.Detail!, MtlsServerExtensions.DetailLength), handshakeDetail);
        if (reused)
        {
            Assert.True(afterHandshake > before, "the handshake judged the chain SslStream had built");
        }
        else
        {
            Assert.Equal(before, afterHandshake);
        }
    }

    private static (X509Certificate2 Leaf, X509Certificate2[] Intermediates) Load(string directory)
    {
        var credentials = ServiceCredentials.Load(new CredentialDirectory(directory));
        return (credentials.Leaf, [.. credentials.Intermediates]);
    }

    [Fact]
    public async Task An_accepted_client_is_judged_on_the_chain_sslstream_built_and_gets_the_full_checks_identity()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scenario = await Scenario.StartAsync(serverTime: clock);
        var directory = scenario.IssueClient("order");
        using var client = scenario.RawClientFor(directory);
        var before = scenario.Server.Store.Current.ReusedChains;

        var caller = await client.GetFromJsonAsync<Scenario.Caller>(new Uri(scenario.Server.Https, "/api/whoami"));

        Assert.Equal(before + 1, scenario.Server.Store.Current.ReusedChains);
        Assert.Equal(OurOrder, caller!.SpiffeId);
        var (leaf, intermediates) = Load(directory);
        var full = FullCheck(scenario, clock, leaf, intermediates);
        Assert.True(full.Accepted);
        Assert.Equal(OurOrder, full.Identity.ToString());
    }

    [Fact]
    public async Task A_revoked_client_on_a_chain_sslstream_built_cleanly_is_refused_with_the_full_checks_words()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scenario = await Scenario.StartAsync(serverTime: clock);
        var directory = scenario.PlainCopyOf(scenario.IssueClient("order"));
        var generation = scenario.Server.Store.Current.Generation;
        scenario.Pki.Authority.RevokeService("order", X509RevocationReason.KeyCompromise);
        await Eventually.True(() => scenario.Server.Store.Current.Generation > generation, "the server loaded the new crl.pem");
        using var client = scenario.RawClientFor(directory);
        var (leaf, intermediates) = Load(directory);

        await AssertSameRefusal(scenario, clock, client, leaf, intermediates, "revoked", reused: true);
    }

    [Fact]
    public async Task A_client_under_a_revoked_intermediate_on_a_chain_sslstream_built_cleanly_is_refused_with_the_full_checks_words()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scenario = await Scenario.StartAsync(serverTime: clock);
        var directory = scenario.PlainCopyOf(scenario.IssueClient("order")); // under the intermediate about to be revoked
        await scenario.RevokeInitialIntermediateAsync();
        using var client = scenario.RawClientFor(directory);
        var (leaf, intermediates) = Load(directory);

        await AssertSameRefusal(scenario, clock, client, leaf, intermediates, "revoked", reused: true);
    }

    [Fact]
    public async Task A_client_expired_on_the_servers_clock_but_not_on_the_systems_is_judged_by_the_full_check()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scenario = await Scenario.StartAsync(serverTime: clock);
        var directory = scenario.IssueClient("order");
        var (leaf, intermediates) = Load(directory);
        clock.Advance(leaf.NotAfter.ToUniversalTime() - clock.GetUtcNow().UtcDateTime + TimeSpan.FromMinutes(1));
        using var client = scenario.RawClientFor(directory);

        await AssertSameRefusal(scenario, clock, client, leaf, intermediates, "expired", reused: false);
    }

    [Fact]
    public async Task A_client_without_the_clientauth_usage_is_judged_by_the_full_check()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scenario = await Scenario.StartAsync(serverTime: clock);
        using var serverOnly = CertificateForge.Leaf(scenario.Pki, OurOrder, CertificateForge.ServerAuthOnly);
        using var intermediate = CertificateForge.Intermediate(scenario.Pki);
        using var client = RawTlsClient.Create(serverOnly, [intermediate], scenario.TrustedRoots);

        await AssertSameRefusal(scenario, clock, client, serverOnly, [intermediate], "wrong-eku", reused: false);
    }

    [Fact]
    public async Task A_leaf_of_ours_under_another_trust_domains_root_on_a_chain_sslstream_built_cleanly_is_refused_with_the_full_checks_words()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scenario = await Scenario.StartAsync(serverTime: clock);
        using var partner = new ForeignCa("partner.example");
        var intermediate = partner.AddIntermediate();
        var impostor = partner.Leaf(intermediate, OurOrder);
        await scenario.UpdateServerFilesAsync(partner.AddedTo);
        using var client = RawTlsClient.Create(impostor, [intermediate], scenario.TrustedRoots);

        await AssertSameRefusal(scenario, clock, client, impostor, [intermediate], "trust-domain-mismatch", reused: true);
    }

    [Fact]
    public async Task A_client_of_a_root_the_server_does_not_trust_is_judged_by_the_full_check()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scenario = await Scenario.StartAsync(serverTime: clock);
        using var rogue = new TestPki();
        var (leaf, intermediates) = Load(rogue.Authority.Issue(new LeafRequest("order")).Directory);
        using var client = RawTlsClient.Create(leaf, intermediates, scenario.TrustedRoots);

        await AssertSameRefusal(scenario, clock, client, leaf, intermediates, "unknown-ca", reused: false);
    }
}
