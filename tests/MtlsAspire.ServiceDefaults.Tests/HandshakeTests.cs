using System.Net;
using System.Net.Http.Json;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Storage;
using MtlsAspire.CertBootstrap.Tests;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>Accepted and rejected handshakes over real TLS: Kestrel on loopback, HttpClient, certificates from our PKI.</summary>
public class HandshakeTests
{
    internal static MetricCollector<long> HandshakeFailures(MtlsTestServer server) =>
        new(server.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), MtlsTelemetry.MeterName, "mtls.handshake.failures");

    /// <summary>Asserts the request fails in the TLS layer, and the server logged one warning naming the reason and counted it.</summary>
    internal static async Task AssertRejected(Scenario scenario, HttpClient client, string reason, params string[] logFragments)
    {
        using var failures = HandshakeFailures(scenario.Server);

        var error = await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami")));

        await Eventually.True(() => failures.GetMeasurementSnapshot().Any(m => (string?)m.Tags["reason"] == reason), $"a {reason} failure counted");
        // One warning per handshake. SocketsHttpHandler itself opens up to 4 connections when a server closes a new one
        // before answering (measured; not configurable), so a raw client causes 1 to 4 refusals, every one explained.
        var warnings = scenario.Server.Logs.GetSnapshot().Where(r => r.Level == LogLevel.Warning && r.Message.Contains("refused the client certificate", StringComparison.Ordinal)).ToList();
        Assert.InRange(warnings.Count, 1, 4);
        foreach (var warning in warnings)
        {
            Assert.Contains($": {reason}.", warning.Message, StringComparison.Ordinal);
            foreach (var fragment in logFragments)
            {
                Assert.Contains(fragment, warning.Message, StringComparison.Ordinal);
            }

            // The same facts as attributes, for a log query rather than a text search.
            Assert.Equal("server", warning.GetStructuredStateValue("Side"));
            Assert.Equal(reason, warning.GetStructuredStateValue("Reason"));
            Assert.StartsWith("127.0.0.1:", warning.GetStructuredStateValue("PeerAddress"), StringComparison.Ordinal);
            Assert.NotNull(warning.GetStructuredStateValue("Subject"));
            Assert.NotNull(warning.GetStructuredStateValue("ClaimedSpiffeId"));
            Assert.NotNull(warning.GetStructuredStateValue("Serial"));
        }

        Assert.Equal("server", failures.GetMeasurementSnapshot().First(m => (string?)m.Tags["reason"] == reason).Tags["side"]);
        _ = error;
    }

    [Fact]
    public async Task An_accepted_call_carries_the_callers_spiffe_id()
    {
        await using var scenario = await Scenario.StartAsync();
        await using var client = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment");

        var caller = await client.Pooled().GetFromJsonAsync<Scenario.Caller>("/api/whoami");

        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/order", caller!.SpiffeId);
        Assert.Equal(client.Store.Current.Leaf.SerialNumber, caller.Serial);
    }

    [Fact]
    public async Task A_client_without_a_certificate_is_refused_in_the_handshake()
    {
        await using var scenario = await Scenario.StartAsync();
        using var client = RawTlsClient.Create(null, [], scenario.TrustedRoots);

        await AssertRejected(scenario, client, "no-certificate", "presented no certificate");
    }

    [Fact]
    public async Task A_client_from_a_rogue_ca_is_refused_naming_the_unknown_issuer()
    {
        await using var scenario = await Scenario.StartAsync();
        using var rogue = new TestPki();
        var rogueDirectory = rogue.Authority.Issue(new LeafRequest("order")).Directory;
        using var credentials = ServiceCredentials.Load(new CredentialDirectory(rogueDirectory));
        using var client = RawTlsClient.Create(credentials.Leaf, credentials.Intermediates, scenario.TrustedRoots);

        await AssertRejected(scenario, client, "unknown-ca", credentials.Intermediates[0].Subject, "spiffe://mtls-aspire.local/ns/development/sa/order",
            credentials.Leaf.SerialNumber);
    }

    [Fact]
    public async Task A_client_that_does_not_send_its_intermediate_is_refused_as_an_incomplete_chain()
    {
        await using var scenario = await Scenario.StartAsync();
        using var rogue = new TestPki();
        using var credentials = ServiceCredentials.Load(new CredentialDirectory(rogue.Authority.Issue(new LeafRequest("order")).Directory));
        using var client = RawTlsClient.Create(credentials.Leaf, [], scenario.TrustedRoots);

        await AssertRejected(scenario, client, "incomplete-chain", "was not sent");
    }

    [Fact]
    public async Task An_expired_client_is_refused_with_both_times()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scenario = await Scenario.StartAsync(serverTime: clock);
        var directory = scenario.Pki.Authority.Issue(new LeafRequest("order") { Lifetime = TimeSpan.FromHours(1) }).Directory;
        clock.Advance(TimeSpan.FromHours(2));
        using var client = scenario.RawClientFor(directory);

        await AssertRejected(scenario, client, "expired", "expired: notAfter", ", now ");
    }

    [Fact]
    public async Task Once_the_crl_goes_stale_a_valid_client_is_refused_naming_the_crl_and_its_next_update()
    {
        // The CRLs CertBootstrap signs are valid for 1 h; the CA republishes them at half that. Here nobody does.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scenario = await Scenario.StartAsync(serverTime: clock);
        var directory = scenario.Pki.Authority.Issue(new LeafRequest("order") { Lifetime = TimeSpan.FromHours(24) }).Directory;
        using var client = scenario.RawClientFor(directory);
        (await client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).EnsureSuccessStatusCode();

        clock.Advance(TimeSpan.FromHours(2));

        var intermediate = scenario.Server.Store.Current.Leaf.Issuer;
        await AssertRejected(scenario, client, "crl-unavailable", $"the CRL of '{intermediate}' is stale: its next update was due ", ", now ");
    }

    [Fact]
    public async Task A_client_not_yet_valid_is_refused_with_notbefore_now_and_the_skew()
    {
        await using var scenario = await Scenario.StartAsync();
        using var future = CertificateForge.Leaf(scenario.Pki, "spiffe://mtls-aspire.local/ns/development/sa/order", CertificateForge.ClientAuth,
            notBefore: DateTimeOffset.UtcNow.AddHours(1));
        using var intermediate = CertificateForge.Intermediate(scenario.Pki);
        using var client = RawTlsClient.Create(future, [intermediate], scenario.TrustedRoots);

        await AssertRejected(scenario, client, "not-yet-valid", "notBefore", "clock-skew");
    }

    [Fact]
    public async Task A_revoked_client_is_refused_once_the_crl_reaches_the_server()
    {
        await using var scenario = await Scenario.StartAsync();
        var directory = scenario.IssueClient("order");
        var generation = scenario.Server.Store.Current.Generation;
        scenario.Pki.Authority.RevokeService("order", System.Security.Cryptography.X509Certificates.X509RevocationReason.KeyCompromise);
        await Eventually.True(() => scenario.Server.Store.Current.Generation > generation, "the server loaded the new crl.pem");
        using var client = scenario.RawClientFor(directory);

        await AssertRejected(scenario, client, "revoked", "keyCompromise");
    }

    [Fact]
    public async Task A_client_under_a_revoked_intermediate_is_refused_naming_the_intermediate_and_its_position_in_the_chain()
    {
        await using var scenario = await Scenario.StartAsync();
        var directory = scenario.IssueClient("order"); // under the intermediate about to be revoked
        var oldIntermediate = await scenario.RevokeInitialIntermediateAsync();
        using var client = scenario.RawClientFor(directory);

        await AssertRejected(scenario, client, "revoked", "the intermediate CA '", $"Intermediate CA {oldIntermediate[..8]}",
            $"(serial {oldIntermediate}, position 1 in the chain: the leaf's issuer) is revoked since", "reason cACompromise, per CRL #",
            "Root CA", "every certificate it signed is refused");
    }

    [Fact]
    public async Task Revoking_the_servers_own_intermediate_still_takes_effect_for_its_peers_and_the_server_says_its_own_certificate_is_revoked()
    {
        await using var scenario = await Scenario.StartAsync();
        var oldIntermediate = scenario.Pki.Init.Intermediate.Serial;
        var directory = scenario.IssueClient("order"); // under the same intermediate as the server
        var generation = scenario.Server.Store.Current.Generation;

        // Revoked before anything moved off it (the wrong order in the runbook, but it happens): the CRL must not be refused.
        scenario.Pki.Authority.Revoke(oldIntermediate, X509RevocationReason.CACompromise);
        await Eventually.True(() => scenario.Server.Store.Current is { OwnRevocation: not null } current && current.Generation > generation,
            "the server loaded the CRL that revokes its own intermediate");
        Assert.Contains("is revoked since", scenario.Server.Store.Current.OwnRevocation, StringComparison.Ordinal);
        Assert.Contains(scenario.Server.Logs.GetSnapshot(), r => r.Level == LogLevel.Error && r.Message.Contains("revoke this service's own certificate", StringComparison.Ordinal));
        using var plain = new HttpClient();
        using var health = await plain.GetAsync(new Uri(scenario.Server.Http, "/health"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode); // Unhealthy: its own certificate is revoked
        using var client = scenario.RawClientFor(directory);
        await AssertRejected(scenario, client, "revoked", $"(serial {oldIntermediate}, position 1 in the chain: the leaf's issuer) is revoked since");
    }

    [Fact]
    public async Task A_client_with_only_the_serverauth_usage_is_refused()
    {
        await using var scenario = await Scenario.StartAsync();
        using var serverOnly = CertificateForge.Leaf(scenario.Pki, "spiffe://mtls-aspire.local/ns/development/sa/order", CertificateForge.ServerAuthOnly);
        using var intermediate = CertificateForge.Intermediate(scenario.Pki);
        using var client = RawTlsClient.Create(serverOnly, [intermediate], scenario.TrustedRoots);

        await AssertRejected(scenario, client, "wrong-eku", "clientAuth", "it has serverAuth");
    }

    public static TheoryData<bool, X509KeyUsageFlags, string> NotWorkloadLeaves => new()
    {
        { true, X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, "is a CA certificate (basicConstraints CA:true)" },
        { false, X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, "has keyUsage keyCertSign" },
        { false, X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.CrlSign, "has keyUsage cRLSign" },
    };

    [Theory]
    [MemberData(nameof(NotWorkloadLeaves))]
    public async Task A_client_certificate_from_our_ca_that_is_not_a_workload_leaf_is_refused_in_the_handshake(bool ca, X509KeyUsageFlags keyUsage, string why)
    {
        await using var scenario = await Scenario.StartAsync();
        using var forged = CertificateForge.Leaf(scenario.Pki, "spiffe://mtls-aspire.local/ns/development/sa/order", CertificateForge.ClientAuth,
            certificateAuthority: ca, keyUsage: keyUsage);
        using var intermediate = CertificateForge.Intermediate(scenario.Pki);
        using var client = RawTlsClient.Create(forged, [intermediate], scenario.TrustedRoots);

        await AssertRejected(scenario, client, "not-a-leaf", why, forged.SerialNumber);
        Assert.All(scenario.Server.Logs.GetSnapshot().Where(r => r.Message.Contains(": not-a-leaf.", StringComparison.Ordinal)), warning =>
        {
            Assert.Equal(forged.SerialNumber, warning.GetStructuredStateValue("Serial"));
            Assert.Equal("CN=forged, O=MtlsAspire", warning.GetStructuredStateValue("Subject"));
            Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/order", warning.GetStructuredStateValue("ClaimedSpiffeId"));
        });
    }

    [Fact]
    public async Task A_client_refuses_a_server_whose_certificate_from_our_ca_is_a_ca()
    {
        using var pki = new TestPki();
        using var forged = CertificateForge.Leaf(pki, "spiffe://mtls-aspire.local/ns/development/sa/payment",
            [CertificateFacts.ServerAuthOid, CertificateFacts.ClientAuthOid], certificateAuthority: true,
            keyUsage: X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign);
        using var intermediate = CertificateForge.Intermediate(pki);
        await using var server = new RawTlsServer(forged, [intermediate]);
        await using var client = await MtlsTestClient.StartAsync(pki.Authority.Issue(new LeafRequest("order")).Directory, server.Https, "payment");

        var error = await Assert.ThrowsAsync<MtlsHandshakeException>(() => client.Pooled().GetAsync("/api/whoami"));

        Assert.Equal(RejectionReason.NotALeaf, error.Reason);
        Assert.Contains("is a CA certificate (basicConstraints CA:true)", error.Message, StringComparison.Ordinal);
        Assert.Contains(client.Logs.GetSnapshot(), r => r.Level == LogLevel.Warning
            && r.Message.Contains("refused the server certificate", StringComparison.Ordinal) && r.Message.Contains(": not-a-leaf.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_tls_12_client_is_refused_when_13_is_required_and_the_server_keeps_serving()
    {
        await using var scenario = await Scenario.StartAsync();
        var directory = scenario.IssueClient("order");
        using var old = scenario.RawClientFor(directory, SslProtocols.Tls12);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => old.GetAsync(new Uri(scenario.Server.Https, "/api/whoami")));

        using var current = scenario.RawClientFor(directory);
        Assert.Equal(HttpStatusCode.OK, (await current.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);
    }

    [Fact]
    public async Task A_client_refuses_a_server_that_presents_another_services_valid_certificate()
    {
        // The server runs with inventory's credentials; the client meant to call payment.
        await using var scenario = await Scenario.StartAsync(serverService: "inventory");
        await using var client = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment");
        using var failures = new MetricCollector<long>(client.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            MtlsTelemetry.MeterName, "mtls.handshake.failures");

        var error = await Assert.ThrowsAsync<MtlsHandshakeException>(() => client.Pooled().GetAsync("/api/whoami"));

        Assert.Equal(RejectionReason.ServerIdentityMismatch, error.Reason);
        Assert.Contains("expected the server to be spiffe://mtls-aspire.local/ns/development/sa/payment", error.Message, StringComparison.Ordinal);
        Assert.Contains("sa/inventory", error.Message, StringComparison.Ordinal);
        // Refused once: the resilience pipeline did not retry a refused certificate.
        var measurement = Assert.Single(failures.GetMeasurementSnapshot());
        Assert.Equal("client", measurement.Tags["side"]);
        Assert.Equal("server-identity-mismatch", measurement.Tags["reason"]);
        var warning = Assert.Single(client.Logs.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Message.Contains("refused the server certificate", StringComparison.Ordinal));
        Assert.Equal("client", warning.GetStructuredStateValue("Side"));
        Assert.Equal("server-identity-mismatch", warning.GetStructuredStateValue("Reason"));
        Assert.Equal(scenario.Server.Store.Current.Leaf.SerialNumber, warning.GetStructuredStateValue("Serial"));
    }

    [Fact]
    public async Task A_client_whose_certificate_the_server_refuses_gets_one_exception_and_no_retry()
    {
        await using var scenario = await Scenario.StartAsync();
        // The client runs from a plain copy of its files, so it does not learn of its own revocation; the server does.
        var copy = scenario.PlainCopyOf(scenario.IssueClient("order"));

        await using var client = await MtlsTestClient.StartAsync(copy, scenario.Server.Https, "payment");
        var generation = scenario.Server.Store.Current.Generation;
        scenario.Pki.Authority.RevokeService("order");
        await Eventually.True(() => scenario.Server.Store.Current.Generation > generation, "the server loaded the new crl.pem");
        using var failures = HandshakeFailures(scenario.Server);

        var error = await Assert.ThrowsAsync<MtlsHandshakeException>(() => client.Fresh().GetAsync("/api/whoami"));

        Assert.Equal(RejectionReason.RefusedByPeer, error.Reason);
        Assert.Contains("refused this client's certificate", error.Message, StringComparison.Ordinal);
        Assert.Contains(client.Store.Current.Leaf.SerialNumber, error.Message, StringComparison.Ordinal);
        await Eventually.True(() => failures.GetMeasurementSnapshot().Count >= 1, "the server counted the refusal");
        // SocketsHttpHandler's own connection retries (at most 4 handshakes); the resilience pipeline's retries
        // would multiply that by 4.
        Assert.InRange(failures.GetMeasurementSnapshot().Count, 1, 4);
        Assert.All(failures.GetMeasurementSnapshot(), m => Assert.Equal("revoked", m.Tags["reason"]));
    }

    [Fact]
    public async Task A_client_revoked_after_connecting_loses_its_open_connection()
    {
        await using var scenario = await Scenario.StartAsync();
        // A plain copy of its files, so the client keeps presenting the certificate after it is revoked.
        var copy = scenario.PlainCopyOf(scenario.IssueClient("order"));

        await using var client = await MtlsTestClient.StartAsync(copy, scenario.Server.Https, "payment");
        var pooled = client.Pooled();
        Assert.Equal(HttpStatusCode.OK, (await pooled.GetAsync("/api/whoami")).StatusCode);

        var generation = scenario.Server.Store.Current.Generation;
        scenario.Pki.Authority.RevokeService("order", System.Security.Cryptography.X509Certificates.X509RevocationReason.KeyCompromise);
        await Eventually.True(() => scenario.Server.Store.Current.Generation > generation, "the server loaded the new crl.pem");

        await Assert.ThrowsAnyAsync<Exception>(() => pooled.GetAsync("/api/whoami"));
        Assert.Contains(scenario.Server.Logs.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Message.Contains(": revoked.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_mtls_client_never_falls_back_to_plain_http()
    {
        await using var scenario = await Scenario.StartAsync();
        await using var client = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment");

        var error = await Assert.ThrowsAsync<MtlsHandshakeException>(() => client.Pooled().GetAsync(new Uri(scenario.Server.Http, "/health")));

        Assert.Contains("only https is allowed", error.Message, StringComparison.Ordinal);
    }
}
