using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// A flood of refused handshakes (Mtls:RefusalLogs): per side and reason, the first of each window are logged and traced in
/// full, the rest summed up in one Warning once the window is over, and every one counted in mtls.handshake.failures.
/// </summary>
public class RefusalLogTests
{
    private const string Order = "spiffe://mtls-aspire.local/ns/development/sa/order";

    [Fact]
    public async Task A_flood_of_one_refusal_is_logged_and_traced_the_first_times_of_a_window_then_summed_up_and_counted_in_full()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow); // frozen: the window ends only when the test says
        await using var scenario = await Scenario.StartWithRefusalWindowAsync(clock);
        using var forged = CertificateForge.Leaf(scenario.Pki, Order, CertificateForge.ServerAuthOnly);
        using var intermediate = CertificateForge.Intermediate(scenario.Pki);
        using var spans = new SpanRecorder(MtlsTelemetry.ActivitySourceName, span => (string?)span.GetTagItem("mtls.peer.serial") == forged.SerialNumber);
        using var failures = new MetricCollector<long>(scenario.Server.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            MtlsTelemetry.MeterName, "mtls.handshake.failures");
        using var client = RawTlsClient.Create(forged, [intermediate], scenario.TrustedRoots);

        // Each failed request is 1 to 4 handshakes (SocketsHttpHandler retries a connection closed before it answered).
        for (var i = 0; i < 8; i++)
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami")));
        }

        var refused = failures.GetMeasurementSnapshot().Where(m => (string?)m.Tags["reason"] == "wrong-eku").Sum(m => m.Value);
        Assert.InRange(refused, 8, 32);
        Assert.Equal(3, Refusals(scenario).Count);
        Assert.Equal(3, spans.Spans.Count);
        Assert.Empty(Summaries(scenario));

        clock.Advance(TimeSpan.FromSeconds(10));

        await Eventually.True(() => Summaries(scenario).Count == 1, "the summary of the window");
        var summary = Summaries(scenario)[0];
        Assert.Equal(LogLevel.Warning, summary.Level);
        Assert.Equal((refused - 3).ToString(System.Globalization.CultureInfo.InvariantCulture), summary.GetStructuredStateValue("Suppressed"));
        Assert.Equal("wrong-eku", summary.GetStructuredStateValue("Reason"));
        Assert.Equal("server", summary.GetStructuredStateValue("Side"));
        Assert.Equal(forged.SerialNumber, summary.GetStructuredStateValue("Serial"));
        Assert.Contains("mtls.handshake.failures counts every one", summary.Message, StringComparison.Ordinal);

        // A new window: logged in full again.
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami")));
        Assert.InRange(Refusals(scenario).Count, 4, 6);
    }

    [Fact]
    public void Each_side_and_reason_has_its_own_window_and_stopping_sums_up_what_was_not_logged()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var logs = new FakeLoggerProvider();
        var limiter = new RefusalLogLimiter(clock, logs.CreateLogger("test"), new MtlsRefusalLogOptions { PerWindow = 2, Window = TimeSpan.FromSeconds(5) });
        var refusal = new RefusalLogLimiter.Refusal("payment", "client", "127.0.0.1:5000", "CN=x", "none", "01");

        var admitted = Enumerable.Range(0, 5).Select(_ => limiter.Admit(PeerSide.Server, RejectionReason.NoCertificate, refusal)).ToList();
        Assert.Equal([true, true, false, false, false], admitted);
        // Another reason, and the same reason on the other side, are not held back by the flood.
        Assert.True(limiter.Admit(PeerSide.Server, RejectionReason.UnknownCa, refusal));
        Assert.True(limiter.Admit(PeerSide.Client, RejectionReason.NoCertificate, refusal with { PeerRole = "server" }));
        Assert.Empty(logs.Collector.GetSnapshot());

        // The window is over at the next refusal of the kind, before it is judged: the summary first, then a fresh window.
        clock.AdjustTime(clock.GetUtcNow() + TimeSpan.FromSeconds(6)); // moves the clock without firing the flush timer
        Assert.True(limiter.Admit(PeerSide.Server, RejectionReason.NoCertificate, refusal with { PeerAddress = "127.0.0.1:6000" }));
        var summary = Assert.Single(logs.Collector.GetSnapshot());
        Assert.Equal("3", summary.GetStructuredStateValue("Suppressed"));
        Assert.Equal("no-certificate", summary.GetStructuredStateValue("Reason"));
        Assert.Equal("127.0.0.1:5000", summary.GetStructuredStateValue("PeerAddress"));
        Assert.Equal("6.0", summary.GetStructuredStateValue("Seconds"));

        Assert.True(limiter.Admit(PeerSide.Server, RejectionReason.NoCertificate, refusal));
        Assert.False(limiter.Admit(PeerSide.Server, RejectionReason.NoCertificate, refusal));
        limiter.Dispose();
        Assert.Equal(2, logs.Collector.GetSnapshot().Count);
        Assert.Equal("1", logs.Collector.LatestRecord.GetStructuredStateValue("Suppressed"));
    }

    [Fact]
    public void Each_kind_of_refused_request_has_its_own_window_apart_from_handshakes_and_its_summary_names_the_last()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var logs = new FakeLoggerProvider();
        var limiter = new RefusalLogLimiter(clock, logs.CreateLogger("test"), new MtlsRefusalLogOptions { PerWindow = 1, Window = TimeSpan.FromSeconds(5) });
        var denial = new RefusalLogLimiter.RequestRefusal("payment", "spiffe://mtls-aspire.local/ns/development/sa/inventory", "payment GET /api/charges", "127.0.0.1:5000");

        Assert.True(limiter.Admit(RequestRefusalKind.CallerNotAllowed, denial));
        Assert.False(limiter.Admit(RequestRefusalKind.CallerNotAllowed, denial));
        Assert.False(limiter.Admit(RequestRefusalKind.CallerNotAllowed, denial with { PeerAddress = "127.0.0.1:6000" }));
        // A flood of 403s holds back neither another kind of refused request nor refused handshakes.
        Assert.True(limiter.Admit(RequestRefusalKind.ManagementNotFound, denial with { Caller = "a plain-HTTP peer", Request = "GET /x" }));
        Assert.True(limiter.Admit(PeerSide.Server, RejectionReason.NoCertificate, new RefusalLogLimiter.Refusal("payment", "client", "127.0.0.1:7000", "-", "none", "-")));
        Assert.Empty(logs.Collector.GetSnapshot());

        clock.Advance(TimeSpan.FromSeconds(5)); // the flush timer closes the window

        var summary = Assert.Single(logs.Collector.GetSnapshot());
        Assert.Equal("2", summary.GetStructuredStateValue("Suppressed"));
        Assert.Equal("127.0.0.1:6000", summary.GetStructuredStateValue("PeerAddress"));
        Assert.Equal("payment GET /api/charges", summary.GetStructuredStateValue("Request"));
        Assert.Contains("more requests it answered 403 (caller-not-allowed) in the last 5.0 s", summary.Message, StringComparison.Ordinal);
        limiter.Dispose();
        Assert.Single(logs.Collector.GetSnapshot()); // nothing else was held back
    }

    [Fact]
    public async Task A_refusals_log_carries_at_most_a_bounded_part_of_the_subject_the_peer_chose()
    {
        await using var scenario = await Scenario.StartWithRefusalWindowAsync(new FakeTimeProvider(DateTimeOffset.UtcNow));
        var organization = new string('x', 4000);
        using var forged = CertificateForge.Leaf(scenario.Pki, Order, CertificateForge.ServerAuthOnly, subject: $"CN=forged, O={organization}");
        using var intermediate = CertificateForge.Intermediate(scenario.Pki);
        using var client = RawTlsClient.Create(forged, [intermediate], scenario.TrustedRoots);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami")));

        var refusal = Refusals(scenario)[0];
        var subject = refusal.GetStructuredStateValue("Subject")!;
        Assert.StartsWith("CN=forged, O=xxx", subject, StringComparison.Ordinal);
        Assert.Equal(MtlsServerExtensions.PeerTextLength + 1, subject.Length); // cut, and marked as cut
        Assert.InRange(refusal.GetStructuredStateValue("Detail")!.Length, 1, MtlsServerExtensions.DetailLength + 1); // the reason quotes the subject
        Assert.InRange(refusal.Message.Length, 1, 3000);
    }

    private static List<FakeLogRecord> Refusals(Scenario scenario) =>
        [.. scenario.Server.Logs.GetSnapshot().Where(r => r.Message.Contains("refused the client certificate", StringComparison.Ordinal)
            && r.GetStructuredStateValue("Reason") == "wrong-eku")];

    private static List<FakeLogRecord> Summaries(Scenario scenario) =>
        [.. scenario.Server.Logs.GetSnapshot().Where(r => r.Message.Contains("more client certificates for wrong-eku", StringComparison.Ordinal))];
}
