using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Tests;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// A peer refused for want of a CRL (a brand-new intermediate) or a root (one just added to ca.crt) makes the refusing
/// side check its files at once and judge again before refusing: no window after a rotation in which new leaves are
/// refused. Here the file watcher is off and the timer ticks hourly, so only that check can find the new files.
/// </summary>
public class ReloadOnDemandTests
{
    private static readonly Dictionary<string, string?> s_noWatching = new()
    {
        ["Mtls:WatchFiles"] = "false",
        ["Mtls:ReloadInterval"] = "01:00:00",
    };

    private static MetricCollector<long> Collect(IServiceProvider services, string instrument) =>
        new(services.GetRequiredService<IMeterFactory>(), MtlsTelemetry.MeterName, instrument);

    private static int Count(MetricCollector<long> onDemand, string result) =>
        onDemand.GetMeasurementSnapshot().Count(m => (string?)m.Tags["result"] == result);

    [Fact]
    public async Task A_client_under_a_brand_new_intermediate_is_accepted_on_the_first_attempt_before_the_server_would_have_reloaded()
    {
        await using var scenario = await Scenario.StartAsync(settings: s_noWatching);
        using var onDemand = Collect(scenario.Server.App.Services, "mtls.credentials.on_demand_reloads");
        using var failures = Collect(scenario.Server.App.Services, "mtls.handshake.failures");
        var generation = scenario.Server.Store.Current.Generation;

        // The new intermediate's CRL is written to the server's directory; the server has not looked.
        var (intermediate, _) = scenario.Pki.Authority.RotateIntermediate();
        var clientDirectory = scenario.IssueClient("order");
        using var client = scenario.RawClientFor(clientDirectory);
        Assert.Equal(generation, scenario.Server.Store.Current.Generation);

        var response = await client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(intermediate.Serial[..8], ServiceCredentials.Load(new CredentialDirectory(clientDirectory)).Leaf.Issuer, StringComparison.Ordinal);
        Assert.Empty(failures.GetMeasurementSnapshot());
        Assert.True(scenario.Server.Store.Current.Generation > generation);
        Assert.Equal(1, Count(onDemand, "loaded"));
    }

    [Fact]
    public async Task A_client_under_a_root_just_added_to_the_bundle_is_accepted_and_authenticated_on_the_first_attempt()
    {
        await using var scenario = await Scenario.StartAsync(settings: s_noWatching);
        using var failures = Collect(scenario.Server.App.Services, "mtls.handshake.failures");
        using var other = new TestPki();
        var otherDirectory = other.Authority.Issue(new LeafRequest("order")).Directory;
        var otherFiles = new CredentialDirectory(otherDirectory).Read();

        // Published, not waited for.
        new CredentialDirectory(scenario.ServerDirectory).Update(files => Scenario.AlsoTrusting(files, otherFiles), DateTimeOffset.UtcNow);
        using var otherCredentials = ServiceCredentials.Load(new CredentialDirectory(otherDirectory));
        using var client = RawTlsClient.Create(otherCredentials.Leaf, otherCredentials.Intermediates, scenario.TrustedRoots);
        var response = await client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(otherCredentials.Leaf.SerialNumber, (await response.Content.ReadFromJsonAsync<Scenario.Caller>())!.Serial);
        Assert.Empty(failures.GetMeasurementSnapshot());
        Assert.Equal(2, scenario.Server.Store.Current.TrustedRoots.Count);
    }

    [Fact]
    public async Task A_client_accepts_a_server_under_a_brand_new_intermediate_on_the_first_attempt()
    {
        await using var scenario = await Scenario.StartAsync();
        await using var client = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment", settings: s_noWatching);
        using var onDemand = Collect(client.Services, "mtls.credentials.on_demand_reloads");
        using var failures = Collect(client.Services, "mtls.handshake.failures");
        Assert.Equal(HttpStatusCode.OK, (await client.Fresh().GetAsync("/api/whoami")).StatusCode);
        var clientGeneration = client.Store.Current.Generation;

        // The server moves to a leaf of a new intermediate; the client's directory has the new CRL, unread.
        var serverGeneration = scenario.Server.Store.Current.Generation;
        scenario.Pki.Authority.RotateIntermediate();
        await Eventually.True(() => scenario.Server.Store.Current.Generation > serverGeneration, "the server loaded the new intermediate's CRL");
        var renewed = scenario.Pki.Authority.Renew("payment");
        await Eventually.True(() => scenario.Server.Store.Current.Leaf.SerialNumber == renewed.Entry.Serial, "the server presents its new leaf");
        Assert.Equal(clientGeneration, client.Store.Current.Generation);

        Assert.Equal(HttpStatusCode.OK, (await client.Fresh().GetAsync("/api/whoami")).StatusCode);

        Assert.Empty(failures.GetMeasurementSnapshot());
        Assert.True(client.Store.Current.Generation > clientGeneration);
        Assert.Equal(1, Count(onDemand, "loaded"));
    }

    [Fact]
    public async Task Rogue_clients_are_still_refused_and_cause_at_most_one_file_check_per_interval()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow); // frozen unless advanced
        await using var scenario = await Scenario.StartAsync(serverTime: clock, settings: s_noWatching);
        using var onDemand = Collect(scenario.Server.App.Services, "mtls.credentials.on_demand_reloads");
        using var failures = Collect(scenario.Server.App.Services, "mtls.handshake.failures");
        using var rogue = new TestPki();
        using var rogueCredentials = ServiceCredentials.Load(new CredentialDirectory(rogue.Authority.Issue(new LeafRequest("order")).Directory));
        using var rogueClient = RawTlsClient.Create(rogueCredentials.Leaf, rogueCredentials.Intermediates, scenario.TrustedRoots);

        for (var i = 0; i < 10; i++)
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => rogueClient.GetAsync(new Uri(scenario.Server.Https, "/api/whoami")));
        }

        var refusals = failures.GetMeasurementSnapshot().Count;
        Assert.InRange(refusals, 10, 40);
        Assert.All(failures.GetMeasurementSnapshot(), m => Assert.Equal("unknown-ca", m.Tags["reason"]));
        Assert.Equal(1, Count(onDemand, "unchanged"));
        Assert.Equal(refusals - 1, Count(onDemand, "rate-limited"));

        clock.Advance(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => rogueClient.GetAsync(new Uri(scenario.Server.Https, "/api/whoami")));
        Assert.Equal(2, Count(onDemand, "unchanged"));
        Assert.Equal(0, Count(onDemand, "loaded"));

        using var own = scenario.RawClientFor(scenario.IssueClient("order"));
        Assert.Equal(HttpStatusCode.OK, (await own.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);
    }
}
