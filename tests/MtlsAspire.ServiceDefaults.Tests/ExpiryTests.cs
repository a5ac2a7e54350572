using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// The leaf's expiry thresholds (<c>Mtls:Expiry</c>) on a fake clock: /health over real HTTP on the management port,
/// one log per crossing, the metrics, and a renewal that makes it healthy again.
/// </summary>
public class ExpiryTests
{
    private static readonly DateTimeOffset s_notBefore = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(0, ExpiryState.Ok)]
    [InlineData(17 * 60, ExpiryState.Ok)]
    [InlineData(18 * 60 + 1, ExpiryState.Warning)]
    [InlineData(23 * 60 - 1, ExpiryState.Warning)]
    [InlineData(23 * 60 + 1, ExpiryState.Critical)]
    [InlineData(24 * 60 + 1, ExpiryState.Expired)]
    [InlineData(-1, ExpiryState.NotYetValid)]
    public void A_24_hour_leaf_warns_below_6_hours_left_and_is_critical_below_1_hour(int minutesAfterNotBefore, ExpiryState expected)
    {
        var status = ExpiryPolicy.Default.Evaluate(s_notBefore, s_notBefore.AddHours(24), s_notBefore.AddMinutes(minutesAfterNotBefore));

        Assert.Equal(expected, status.State);
        Assert.Contains("warning below 6h", status.Detail, StringComparison.Ordinal);
        Assert.Contains("critical below 1h", status.Detail, StringComparison.Ordinal);
        Assert.Contains("notBefore 2030-01-01 00:00:00Z", status.Detail, StringComparison.Ordinal);
        Assert.Contains("notAfter 2030-01-02 00:00:00Z", status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_short_lifetime_does_not_start_critical_its_critical_threshold_is_a_tenth_of_it()
    {
        var policy = ExpiryPolicy.Default;
        var notAfter = s_notBefore.AddMinutes(10);

        Assert.Equal(ExpiryState.Ok, policy.Evaluate(s_notBefore, notAfter, s_notBefore.AddMinutes(1)).State);
        Assert.Equal(TimeSpan.FromMinutes(1), policy.CriticalThreshold(TimeSpan.FromMinutes(10)));
        Assert.Equal(ExpiryState.Warning, policy.Evaluate(s_notBefore, notAfter, s_notBefore.AddMinutes(8)).State);
        Assert.Equal(ExpiryState.Critical, policy.Evaluate(s_notBefore, notAfter, s_notBefore.AddMinutes(9.5)).State);
        Assert.Contains("critical below 1m", policy.Evaluate(s_notBefore, notAfter, s_notBefore).Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Mtls:Expiry:WarningFraction", "1.5")]
    [InlineData("Mtls:Expiry:WarningFraction", "0")]
    [InlineData("Mtls:Expiry:CriticalRemaining", "-00:01:00")]
    public async Task An_invalid_threshold_fails_at_start_naming_the_setting(string setting, string value)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => Scenario.StartAsync(settings: new Dictionary<string, string?> { [setting] = value }));

        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Crossing_each_threshold_degrades_health_logs_once_and_counts_and_a_renewal_makes_it_healthy()
    {
        // A 1 h leaf: warning below about 15 min left, critical below about 6 min (a tenth of the lifetime, not the 1 h default).
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scenario = await Scenario.StartAsync(serverTime: clock, serverLifetime: TimeSpan.FromHours(1),
            settings: new Dictionary<string, string?> { ["Mtls:ReloadInterval"] = "00:01:00" });
        var meters = scenario.Server.App.Services.GetRequiredService<IMeterFactory>();
        using var crossings = new MetricCollector<long>(meters, MtlsTelemetry.MeterName, "mtls.certificate.expiry.warnings");
        using var state = new MetricCollector<double>(meters, MtlsTelemetry.MeterName, "mtls.certificate.expiry.state");
        using var plain = new HttpClient();
        var leaf = scenario.Server.Store.Current.Leaf;
        var notAfter = new DateTimeOffset(leaf.NotAfter.ToUniversalTime());
        var lifetime = leaf.NotAfter - leaf.NotBefore; // 1 h and the 5 min the PKI back-dates notBefore by
        // Both clocks move together: the PKI issues the renewal at the server's "now".
        void AdvanceTo(DateTimeOffset at)
        {
            var delta = at - clock.GetUtcNow();
            scenario.Pki.Time.Advance(delta);
            clock.Advance(delta);
        }

        async Task<(HttpStatusCode Code, string Body)> Health()
        {
            using var response = await plain.GetAsync(new Uri(scenario.Server.Http, "/health"));
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        double StateNow()
        {
            state.RecordObservableInstruments();
            return state.LastMeasurement!.Value;
        }

        List<FakeLogRecord> Crossings() => [.. scenario.Server.Logs.GetSnapshot().Where(r => r.Message.Contains("crossed the expiry", StringComparison.Ordinal))];

        Assert.Equal((HttpStatusCode.OK, "Healthy"), await Health());
        Assert.Equal(0, StateNow());
        Assert.Empty(Crossings());

        // Warning: 14 min left.
        AdvanceTo(notAfter - TimeSpan.FromMinutes(14));
        await Eventually.True(() => Crossings().Count == 1, "the warning crossing is logged");
        Assert.Equal((HttpStatusCode.OK, "Degraded"), await Health());
        Assert.Equal(1, StateNow());
        var warning = Assert.Single(Crossings());
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal("payment", warning.GetStructuredStateValue("Self"));
        Assert.Equal(leaf.SerialNumber, warning.GetStructuredStateValue("Serial"));
        Assert.NotNull(warning.GetStructuredStateValue("NotAfter"));
        Assert.Equal("14m 0s", warning.GetStructuredStateValue("Remaining"));
        Assert.Equal(Verification.Durations.Describe(ExpiryPolicy.Default.WarningThreshold(lifetime)), warning.GetStructuredStateValue("Threshold"));
        Assert.Contains("renewal is late", warning.Message, StringComparison.Ordinal);
        Assert.Equal("warning", Assert.Single(crossings.GetMeasurementSnapshot()).Tags["level"]);

        // Still in warning a few ticks later: no second log.
        AdvanceTo(notAfter - TimeSpan.FromMinutes(10));
        Assert.Single(Crossings());
        Assert.Single(crossings.GetMeasurementSnapshot());

        // Critical: 5 min left.
        AdvanceTo(notAfter - TimeSpan.FromMinutes(5));
        await Eventually.True(() => Crossings().Count == 2, "the critical crossing is logged");
        Assert.Equal((HttpStatusCode.OK, "Degraded"), await Health());
        Assert.Equal(2, StateNow());
        var critical = Crossings()[1];
        Assert.Equal(LogLevel.Error, critical.Level);
        Assert.Equal("critical", critical.GetStructuredStateValue("State"));
        Assert.Equal(Verification.Durations.Describe(lifetime / 10), critical.GetStructuredStateValue("Threshold"));
        Assert.Equal("critical", crossings.GetMeasurementSnapshot()[1].Tags["level"]);

        // Expired: Unhealthy (503), an error.
        AdvanceTo(notAfter + TimeSpan.FromMinutes(1));
        await Eventually.True(() => Crossings().Count == 3, "the expiry is logged");
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "Unhealthy"), await Health());
        Assert.Equal(3, StateNow());
        Assert.Equal(LogLevel.Error, Crossings()[2].Level);
        Assert.Equal("expired", crossings.GetMeasurementSnapshot()[2].Tags["level"]);
        Assert.Contains("expired", scenario.Server.Store.Expiry().Detail, StringComparison.Ordinal);

        // Renewal (new files, fresh CRLs as the AppHost's loop publishes them): healthy again.
        scenario.Pki.Authority.PublishCrls(includeRoots: false);
        var renewed = scenario.Pki.Authority.Renew("payment");
        await Eventually.True(() => scenario.Server.Store.Current.Leaf.SerialNumber == renewed.Entry.Serial, "the server swapped in its renewed leaf");
        Assert.Equal((HttpStatusCode.OK, "Healthy"), await Health());
        Assert.Equal(0, StateNow());
    }
}
