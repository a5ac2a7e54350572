using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using MtlsAspire.CertBootstrap.Storage;
using MtlsAspire.CertBootstrap.Tests;
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
    public async Task The_server_span_carries_the_peer_spiffe_id_and_tls_version()
    {
        var tagged = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                lock (tagged)
                {
                    tagged.Add(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        await using var scenario = await Scenario.StartAsync();
        using var client = scenario.RawClientFor(scenario.IssueClient("order"));

        (await client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).EnsureSuccessStatusCode();

        await Eventually.True(() => { lock (tagged) { return tagged.Any(a => a.GetTagItem("mtls.peer.spiffe_id") is not null); } }, "a tagged server span");
        Activity span;
        lock (tagged)
        {
            span = tagged.First(a => a.GetTagItem("mtls.peer.spiffe_id") is not null);
        }

        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/order", span.GetTagItem("mtls.peer.spiffe_id"));
        Assert.Equal("1.3", span.GetTagItem("tls.protocol.version"));
        Assert.Equal("CN=order, OU=development, O=MtlsAspire", span.GetTagItem("tls.client.subject"));
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
        Assert.Equal(1, server.Count(m => (string?)m.Tags["cache"] == "miss"));
        Assert.True(server.Count(m => (string?)m.Tags["cache"] == "hit") >= 2);

        // New credentials (here: a new CRL) start a new cache: the next handshake is judged in full again.
        var generation = scenario.Server.Store.Current.Generation;
        scenario.Pki.Authority.PublishCrls(includeRoots: false);
        await Eventually.True(() => scenario.Server.Store.Current.Generation > generation, "the new crl.pem");
        validations.Clear();
        (await client.GetAsync(new Uri(scenario.Server.HttpsByIp, "/api/whoami"))).EnsureSuccessStatusCode();
        Assert.Contains(validations.GetMeasurementSnapshot(), m => (string?)m.Tags["side"] == "server" && (string?)m.Tags["cache"] == "miss");
    }
}
