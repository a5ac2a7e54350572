using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using MtlsAspire.Verification.Storage;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

public class TelemetryTests
{
    [Fact]
    public async Task Expiry_and_rotations_are_metrics()
    {
        await using var scenario = await Scenario.StartAsync();
        var meters = scenario.Server.App.Services.GetRequiredService<IMeterFactory>();
        using var expiry = new MetricCollector<double>(meters, MtlsTelemetry.MeterName, "mtls.certificate.expiry");
        using var crlAge = new MetricCollector<double>(meters, MtlsTelemetry.MeterName, "mtls.crl.age");
        using var rotations = new MetricCollector<long>(meters, MtlsTelemetry.MeterName, "mtls.certificate.rotations");

        expiry.RecordObservableInstruments();
        crlAge.RecordObservableInstruments();
        var secondsLeft = expiry.LastMeasurement!.Value;
        Assert.InRange(secondsLeft, TimeSpan.FromHours(23).TotalSeconds, TimeSpan.FromHours(24).TotalSeconds);
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/payment", expiry.LastMeasurement.Tags["mtls.identity"]);
        Assert.InRange(crlAge.LastMeasurement!.Value, 0, TimeSpan.FromMinutes(5).TotalSeconds);

        var renewed = scenario.Pki.Authority.Renew("payment");
        await Eventually.True(() => scenario.Server.Store.Current.Leaf.SerialNumber == renewed.Entry.Serial, "the rotation");

        Assert.Equal(1, Assert.Single(rotations.GetMeasurementSnapshot()).Value);
    }

    [Fact]
    public async Task The_generation_in_use_and_the_roots_of_the_bundle_are_gauges()
    {
        await using var scenario = await Scenario.StartAsync();
        var meters = scenario.Server.App.Services.GetRequiredService<IMeterFactory>();
        using var generation = new MetricCollector<double>(meters, MtlsTelemetry.MeterName, "mtls.credentials.generation");
        using var roots = new MetricCollector<double>(meters, MtlsTelemetry.MeterName, "mtls.trust_bundle.roots");
        double Read(MetricCollector<double> gauge)
        {
            gauge.RecordObservableInstruments();
            return gauge.LastMeasurement!.Value;
        }

        Assert.Equal(1, Read(generation));
        Assert.Equal(1, Read(roots));

        using var other = new MtlsAspire.CertBootstrap.Tests.TestPki();
        var otherFiles = new CredentialDirectory(other.Authority.Issue(new MtlsAspire.CertBootstrap.Authority.LeafRequest("order")).Directory).Read();
        await scenario.UpdateServerFilesAsync(files => Scenario.AlsoTrusting(files, otherFiles));

        Assert.Equal(scenario.Server.Store.Current.Generation, Read(generation));
        Assert.True(Read(generation) >= 2);
        Assert.Equal(2, Read(roots));
    }

    [Fact]
    public async Task The_server_span_carries_the_peer_spiffe_id_and_tls_version()
    {
        await using var scenario = await Scenario.StartAsync();
        var directory = scenario.IssueClient("order");
        using var credentials = ServiceCredentials.Load(new CredentialDirectory(directory));
        // Only this test's client has this serial: the spans of servers in tests running alongside are not ours.
        using var spans = new SpanRecorder("Microsoft.AspNetCore", span => (string?)span.GetTagItem("tls.client.serial") == credentials.Leaf.SerialNumber);
        using var client = scenario.RawClientFor(directory);

        (await client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).EnsureSuccessStatusCode();

        var span = await spans.FirstAsync("the server span of this test's request");
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/order", span.GetTagItem("mtls.peer.spiffe_id"));
        Assert.Equal("1.3", span.GetTagItem("tls.protocol.version"));
        Assert.Equal("CN=order, OU=development, O=MtlsAspire", span.GetTagItem("tls.client.subject"));
        Assert.Equal(credentials.Intermediates[0].Subject, span.GetTagItem("tls.client.issuer"));
    }

    [Fact]
    public async Task A_handshake_the_server_refuses_is_an_error_span_with_the_reason_and_the_claimed_peer()
    {
        await using var scenario = await Scenario.StartAsync();
        using var serverAuthOnly = CertificateForge.Leaf(scenario.Pki, "spiffe://mtls-aspire.local/ns/development/sa/order", CertificateForge.ServerAuthOnly);
        using var intermediate = CertificateForge.Intermediate(scenario.Pki);
        using var spans = new SpanRecorder(MtlsTelemetry.ActivitySourceName, span => (string?)span.GetTagItem("mtls.peer.serial") == serverAuthOnly.SerialNumber);
        using var client = RawTlsClient.Create(serverAuthOnly, [intermediate], scenario.TrustedRoots);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami")));

        var span = await spans.FirstAsync("the span of the refused handshake");
        Assert.Equal(MtlsTelemetry.HandshakeActivityName, span.OperationName);
        Assert.Equal(ActivityStatusCode.Error, span.Status);
        Assert.Equal("wrong-eku", span.StatusDescription);
        Assert.Equal("server", span.GetTagItem("mtls.side"));
        Assert.Equal("wrong-eku", span.GetTagItem("mtls.rejection.reason"));
        Assert.Contains("clientAuth", (string?)span.GetTagItem("mtls.rejection.detail"), StringComparison.Ordinal);
        Assert.StartsWith("127.0.0.1:", (string?)span.GetTagItem("mtls.peer.address"), StringComparison.Ordinal);
        Assert.Equal("CN=forged, O=MtlsAspire", span.GetTagItem("mtls.peer.subject"));
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/order", span.GetTagItem("mtls.peer.claimed_spiffe_id"));
        Assert.Null(span.GetTagItem("mtls.peer.spiffe_id")); // claimed, never presented as verified
        Assert.Null(span.Parent); // no HTTP request: this is the trace
    }

    [Fact]
    public async Task A_server_the_client_refuses_is_an_error_span_on_the_client_side()
    {
        await using var scenario = await Scenario.StartAsync(serverService: "inventory");
        var serverSerial = scenario.Server.Store.Current.Leaf.SerialNumber;
        using var spans = new SpanRecorder(MtlsTelemetry.ActivitySourceName, span => (string?)span.GetTagItem("mtls.peer.serial") == serverSerial);
        await using var client = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment");

        await Assert.ThrowsAsync<MtlsAspire.ServiceDefaults.Mtls.MtlsHandshakeException>(() => client.Pooled().GetAsync("/api/whoami"));

        var span = await spans.FirstAsync("the span of the refused handshake");
        Assert.Equal(ActivityStatusCode.Error, span.Status);
        Assert.Equal("server-identity-mismatch", span.StatusDescription);
        Assert.Equal("client", span.GetTagItem("mtls.side"));
        Assert.Equal("localhost", span.GetTagItem("mtls.peer.address"));
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/inventory", span.GetTagItem("mtls.peer.claimed_spiffe_id"));
    }

    [Fact]
    public async Task A_peer_seen_before_is_judged_from_the_verdict_cache_until_the_credentials_change()
    {
        await using var scenario = await Scenario.StartAsync();
        using var validations = new MetricCollector<long>(scenario.Server.App.Services.GetRequiredService<IMeterFactory>(),
            MtlsTelemetry.MeterName, "mtls.peer.validations");
        using var client = scenario.RawClientFor(scenario.IssueClient("order")); // a new connection per request

        for (var i = 0; i < 3; i++)
        {
            (await client.GetAsync(new Uri(scenario.Server.HttpsByIp, "/api/whoami"))).EnsureSuccessStatusCode();
        }

        var server = validations.GetMeasurementSnapshot().Where(m => (string?)m.Tags["side"] == "server").ToList();
        // Once per connection, in its handshake: the handshake tells the connection, and its first request does not judge it again.
        Assert.Equal(1, server.Count(m => (string?)m.Tags["cache"] == "miss"));
        Assert.Equal(2, server.Count(m => (string?)m.Tags["cache"] == "hit"));

        // New credentials (here: a new CRL) start a new cache: the next handshake is judged in full again.
        var generation = scenario.Server.Store.Current.Generation;
        scenario.Pki.Authority.PublishCrls(includeRoots: false);
        await Eventually.True(() => scenario.Server.Store.Current.Generation > generation, "the new crl.pem");
        validations.Clear();
        (await client.GetAsync(new Uri(scenario.Server.HttpsByIp, "/api/whoami"))).EnsureSuccessStatusCode();
        Assert.Contains(validations.GetMeasurementSnapshot(), m => (string?)m.Tags["side"] == "server" && (string?)m.Tags["cache"] == "miss");
    }
}
