using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// The intermediates a server learns from peers are path-building hints for resumed sessions and for the
/// authentication handler (which sees only the leaf). Only an authenticated peer of our trust domain may teach one.
/// </summary>
public class KnownIntermediatesTests
{
    [Fact]
    public async Task Peers_that_are_not_authenticated_cannot_fill_or_poison_the_learned_intermediates()
    {
        await using var scenario = await Scenario.StartAsync();
        // A partner trust domain whose root (and CRLs) the bundle holds: its chains are trusted in the handshake, its
        // identities are not ours (401). It mints as many intermediates as it likes: more than the server remembers.
        using var partner = new ForeignCa("partner.example");
        for (var i = 0; i < 70; i++)
        {
            partner.AddIntermediate();
        }

        await scenario.UpdateServerFilesAsync(partner.AddedTo);
        foreach (var intermediate in partner.Intermediates)
        {
            using var stranger = RawTlsClient.Create(partner.Leaf(intermediate, "spiffe://partner.example/ns/development/sa/intruder"), [intermediate],
                scenario.TrustedRoots);
            Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);
        }

        Assert.DoesNotContain(scenario.Server.Store.KnownIntermediates, known => partner.Intermediates.Any(p => p.Thumbprint == known.Thumbprint));

        // Our CA moves to a new intermediate; the server's own leaf stays under the old one, so only a peer's handshake
        // can teach the server the new intermediate, which the authentication handler needs to build the chain.
        var generation = scenario.Server.Store.Current.Generation;
        scenario.Pki.Authority.RotateIntermediate();
        await Eventually.True(() => scenario.Server.Store.Current.Generation > generation, "the server loaded the CRL of the new intermediate");
        using var client = scenario.RawClientFor(scenario.IssueClient("order"));

        var response = await client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/order", (await response.Content.ReadFromJsonAsync<Scenario.Caller>())!.SpiffeId);
    }

    [Fact]
    public async Task Strangers_chains_are_remembered_within_the_byte_budget_and_an_oversized_chain_is_refused_before_it()
    {
        const int budget = 40_000;
        await using var scenario = await Scenario.StartAsync(settings: new Dictionary<string, string?> { ["Mtls:StrangerChainBudgetBytes"] = $"{budget}" });
        using var collector = new MetricCollector<long>(scenario.Server.App.Services.GetRequiredService<IMeterFactory>(), MtlsTelemetry.MeterName, "mtls.cache.bytes");
        using var entries = new MetricCollector<long>(scenario.Server.App.Services.GetRequiredService<IMeterFactory>(), MtlsTelemetry.MeterName, "mtls.cache.entries");
        using var failures = HandshakeTests.HandshakeFailures(scenario.Server);
        long Read(MetricCollector<long> gauge)
        {
            gauge.Clear();
            gauge.RecordObservableInstruments();
            return gauge.GetMeasurementSnapshot().Single(m => (string?)m.Tags["cache"] == "stranger-chains").Value;
        }

        // Strangers whose two CAs are 6 KB each: within the per-certificate limit, so each is refused as an unknown CA and
        // its chain remembered, about 12.5 KB a stranger: the budget holds three.
        const int strangers = 8;
        for (var i = 0; i < strangers; i++)
        {
            using var chain = BloatedChain.Create(6_000, "spiffe://elsewhere.example/ns/development/sa/stranger");
            using var stranger = RawTlsClient.Create(chain.Leaf, chain.Authorities, scenario.TrustedRoots);
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => stranger.GetAsync(new Uri(scenario.Server.Https, "/api/whoami")));
            await Eventually.True(() => failures.GetMeasurementSnapshot().Count(m => (string?)m.Tags["reason"] == "unknown-ca") > i, "the stranger refused");

            var (bytes, remembered) = (Read(collector), Read(entries));
            Assert.InRange(bytes, 1, budget);
            // Counted by what is kept: both CAs' DER (each is a candidate of the leaf's chain by name) and the overhead.
            Assert.True(bytes >= remembered * (2 * 6_000 + 256), $"{bytes} bytes for {remembered} strangers");
        }

        Assert.InRange(Read(entries), 1, 3);

        // A chain whose CAs are 20 KB each: refused for its size, before any chain building, and nothing of it remembered.
        var before = Read(collector);
        using var oversized = BloatedChain.Create(20_000, "spiffe://elsewhere.example/ns/development/sa/stranger");
        using var client = RawTlsClient.Create(oversized.Leaf, oversized.Authorities, scenario.TrustedRoots);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami")));

        await Eventually.True(() => failures.GetMeasurementSnapshot().Any(m => (string?)m.Tags["reason"] == "chain-too-large"), "a chain-too-large refusal counted");
        var warning = scenario.Server.Logs.GetSnapshot().First(r => r.Message.Contains(": chain-too-large.", StringComparison.Ordinal));
        Assert.Contains("more than Mtls:MaxPeerCertificateBytes (16384)", warning.Message, StringComparison.Ordinal);
        Assert.Contains(oversized.Leaf.SerialNumber, warning.Message, StringComparison.Ordinal);
        Assert.Equal(before, Read(collector));
    }

    [Theory]
    [InlineData("MaxPeerCertificateBytes", 2048, "Mtls:MaxPeerCertificateBytes must be at least 4096")]
    [InlineData("MaxPeerChainBytes", 8192, "Mtls:MaxPeerChainBytes must be at least Mtls:MaxPeerCertificateBytes (16384)")]
    [InlineData("StrangerChainBudgetBytes", -1, "Mtls:StrangerChainBudgetBytes must not be negative")]
    public void Size_limits_that_would_refuse_real_chains_or_a_negative_budget_fail_at_start_naming_the_setting(string setting, long value, string message)
    {
        var options = new MtlsOptions { CredentialsDirectory = Path.GetTempPath() };
        typeof(MtlsOptions).GetProperty(setting)!.SetValue(options, Convert.ChangeType(value, typeof(MtlsOptions).GetProperty(setting)!.PropertyType,
            System.Globalization.CultureInfo.InvariantCulture));

        var result = new MtlsOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(message, result.FailureMessage, StringComparison.Ordinal);
        Assert.True(new MtlsOptionsValidator().Validate(null, new MtlsOptions { CredentialsDirectory = Path.GetTempPath() }).Succeeded);
    }

    [Fact]
    public async Task The_caches_peers_fill_are_a_gauge_per_cache()
    {
        await using var scenario = await Scenario.StartAsync();
        using var entries = new MetricCollector<long>(scenario.Server.App.Services.GetRequiredService<IMeterFactory>(), MtlsTelemetry.MeterName, "mtls.cache.entries");
        long Read(string cache)
        {
            entries.Clear();
            entries.RecordObservableInstruments();
            return entries.GetMeasurementSnapshot().Single(m => (string?)m.Tags["cache"] == cache).Value;
        }

        using var partner = new ForeignCa("partner.example");
        for (var i = 0; i < 3; i++)
        {
            partner.AddIntermediate();
        }

        await scenario.UpdateServerFilesAsync(partner.AddedTo);
        Assert.Equal(0, Read("stranger-chains"));
        foreach (var intermediate in partner.Intermediates)
        {
            using var stranger = RawTlsClient.Create(partner.Leaf(intermediate, "spiffe://partner.example/ns/development/sa/intruder"), [intermediate],
                scenario.TrustedRoots);
            Assert.Equal(HttpStatusCode.Unauthorized, (await stranger.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);
        }

        // One remembered chain per stranger's leaf; nothing learned from them.
        Assert.Equal(partner.Intermediates.Count, Read("stranger-chains"));
        Assert.Equal(0, Read("learned-intermediates"));

        // An authenticated peer under an intermediate the server's own chain does not have teaches it, and its verdict is cached.
        var generation = scenario.Server.Store.Current.Generation;
        scenario.Pki.Authority.RotateIntermediate();
        await Eventually.True(() => scenario.Server.Store.Current.Generation > generation, "the server loaded the CRL of the new intermediate");
        Assert.Equal(0, Read("peer-verdicts")); // a new generation starts with an empty verdict cache
        using var client = scenario.RawClientFor(scenario.IssueClient("order"));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);

        Assert.Equal(1, Read("learned-intermediates"));
        Assert.True(Read("peer-verdicts") >= 1);
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/payment", entries.LastMeasurement!.Tags["mtls.identity"]);
    }
}
