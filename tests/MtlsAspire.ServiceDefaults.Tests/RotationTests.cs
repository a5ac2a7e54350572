using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Storage;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// Rotations under load, on pooled and new connections to "localhost" (so TLS sessions resume): zero failed requests.
/// </summary>
public class RotationTests
{
    private static LoadLoop StartLoad(MtlsTestClient client) => new(
        ("pooled-1", client.Pooled), ("pooled-2", client.Pooled), ("fresh-1", client.Fresh), ("fresh-2", client.Fresh));

    private static string ServerSerialSeenByANewConnection(Scenario scenario, string clientDirectory)
    {
        var seen = string.Empty;
        using var credentials = ServiceCredentials.Load(new CredentialDirectory(clientDirectory));
        using var raw = RawTlsClient.Create(credentials.Leaf, credentials.Intermediates, scenario.TrustedRoots, serverObserver: c => seen = c.SerialNumber);
        using var response = raw.GetAsync(new Uri(scenario.Server.HttpsByIp, "/api/whoami")).GetAwaiter().GetResult();
        response.EnsureSuccessStatusCode();
        return seen;
    }

    [Fact]
    public async Task Rotating_the_server_leaf_under_load_fails_no_request_and_new_handshakes_present_it()
    {
        await using var scenario = await Scenario.StartAsync();
        var clientDirectory = scenario.IssueClient("order");
        await using var client = await MtlsTestClient.StartAsync(clientDirectory, scenario.Server.Https, "payment");
        await using (var load = StartLoad(client))
        {
            await load.AdvanceAsync(40);

            var renewed = scenario.Pki.Authority.Renew("payment");
            await Eventually.True(() => scenario.Server.Store.Current.Leaf.SerialNumber == renewed.Entry.Serial, "the server swapped in its new certificate");
            await load.AdvanceAsync(80);

            Assert.Empty(load.Failures);
            Assert.Equal(renewed.Entry.Serial, await Task.Run(() => ServerSerialSeenByANewConnection(scenario, clientDirectory)));
        }
    }

    [Fact]
    public async Task Rotating_the_client_leaf_under_load_fails_no_request_and_the_server_sees_the_new_certificate()
    {
        await using var scenario = await Scenario.StartAsync();
        await using var client = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment");
        await using (var load = StartLoad(client))
        {
            await load.AdvanceAsync(40);

            var renewed = scenario.Pki.Authority.Renew("order");
            await Eventually.True(() => load.LastSerialByWorker.Values.All(serial => serial == renewed.Entry.Serial) && load.LastSerialByWorker.Count == 4,
                "every worker's requests carry the new client certificate, pooled ones included");
            await load.AdvanceAsync(40);

            Assert.Empty(load.Failures);
        }
    }

    [Fact]
    public async Task Rotating_the_intermediate_under_the_same_root_under_load_fails_no_request()
    {
        await using var scenario = await Scenario.StartAsync();
        await using var client = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment");
        await using (var load = StartLoad(client))
        {
            await load.AdvanceAsync(40);

            // The zero-failure order (what the AppHost does): the new intermediate's CRL reaches every service first,
            // then the leaves move to it. Renewing at once (--renew-leaves) races each side's reload of that CRL.
            var (serverGeneration, clientGeneration) = (scenario.Server.Store.Current.Generation, client.Store.Current.Generation);
            var (intermediate, _) = scenario.Pki.Authority.RotateIntermediate();
            await Eventually.True(() => scenario.Server.Store.Current.Generation > serverGeneration && client.Store.Current.Generation > clientGeneration,
                "both sides loaded the CRL of the new intermediate");
            var serverSerial = scenario.Pki.Authority.Renew("payment").Entry.Serial;
            var clientSerial = scenario.Pki.Authority.Renew("order").Entry.Serial;
            await Eventually.True(() => scenario.Server.Store.Current.Leaf.SerialNumber == serverSerial, "the server swapped in its new certificate");
            await Eventually.True(() => load.LastSerialByWorker.Count == 4 && load.LastSerialByWorker.Values.All(serial => serial == clientSerial),
                "every worker presents the new client certificate");
            await load.AdvanceAsync(80);

            Assert.Empty(load.Failures);
            Assert.Contains($"Intermediate CA {intermediate.Serial[..8]}", scenario.Server.Store.Current.Leaf.Issuer, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Rotating_the_intermediate_and_renewing_every_leaf_at_once_under_load_fails_no_request()
    {
        // Each side notices new files only on its 2 s timer (no watcher), at different moments: the window this closes.
        var timerOnly = new Dictionary<string, string?> { ["Mtls:WatchFiles"] = "false", ["Mtls:ReloadInterval"] = "00:00:02" };
        await using var scenario = await Scenario.StartAsync(settings: timerOnly);
        await using var client = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment", settings: timerOnly);
        await using (var load = StartLoad(client))
        {
            await load.AdvanceAsync(40);

            // No wait for the new CRL to reach either side: a peer refused for want of it makes the refusing side
            // check its files first (reload on demand), so the new leaves are accepted at once.
            var (_, renewed) = scenario.Pki.Authority.RotateIntermediate(renewLeaves: true);
            var clientSerial = renewed.Single(r => r.Entry.Service == "order").Entry.Serial;
            var serverSerial = renewed.Single(r => r.Entry.Service == "payment").Entry.Serial;
            await Eventually.True(() => scenario.Server.Store.Current.Leaf.SerialNumber == serverSerial, "the server swapped in its new certificate");
            await Eventually.True(() => load.LastSerialByWorker.Count == 4 && load.LastSerialByWorker.Values.All(serial => serial == clientSerial),
                "every worker presents the new client certificate");
            await load.AdvanceAsync(80);

            Assert.Empty(load.Failures);
        }
    }
}
