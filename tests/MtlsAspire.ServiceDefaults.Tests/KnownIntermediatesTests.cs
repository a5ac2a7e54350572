using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
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
