using System.Diagnostics;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>
/// Every rotation the dashboard offers, run while the shopper orders every 50 ms through every hop on pooled and new
/// (resumed) TLS connections: not one request may fail.
/// </summary>
[Collection(LoadGroup.Name)]
public class LifecycleUnderLoadTests(LoadFixture load, ITestOutputHelper output)
{
    private static readonly string[] s_services = ["legacy-proxy", "inventory", "payment", "order", "shopper", "intruder"];

    private TestApp App => load.App;

    [Fact]
    public async Task Renewing_every_leaf_rotating_the_intermediate_and_each_root_rotation_step_fail_no_request()
    {
        await WaitForOrdersAsync(20, "steady state");

        await UnderLoadAsync("renewal of every leaf", async () =>
        {
            var renewed = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var service in s_services)
            {
                var result = await App.App.ResourceCommands.ExecuteCommandAsync(service, "renew-certificate");
                Assert.True(result.Success, result.Message);
                renewed[App.IdentityOf(service).ToString()] = App.Pki.Lifecycle!.Authority.Ledger.ActiveLeaf(service)!.Serial;
            }

            await App.UntilEveryServiceAsync("its renewed leaf", s => renewed[s.SpiffeId] == s.Leaf.Serial);
        });

        await UnderLoadAsync("intermediate rotation", async () =>
        {
            var result = await App.App.ResourceCommands.ExecuteCommandAsync("pki", "rotate-intermediate");
            Assert.True(result.Success, result.Message);
            var intermediate = App.Pki.Lifecycle!.Authority.Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active)[^1];
            await App.UntilEveryServiceAsync("a leaf under the new intermediate", s => s.Leaf.IssuerSerial == intermediate.Serial);
        });

        var oldRoot = App.Pki.Lifecycle!.Authority.Ledger.Find(CertificateKind.Root, CertificateStatus.Active)[^1].Serial;
        var states = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var watching = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            try
            {
                await foreach (var e in App.App.ResourceNotifications.WatchAsync(watching.Token))
                {
                    if (e.Resource.Name == "pki" && e.Snapshot.State?.Text is { } text)
                    {
                        states.Enqueue(text);
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        });
        await UnderLoadAsync("root rotation (all three steps)", async () =>
        {
            var result = await App.App.ResourceCommands.ExecuteCommandAsync("pki", "rotate-root");
            Assert.True(result.Success, result.Message);
            output.WriteLine(result.Message);
        });
        await watching.CancelAsync();
        await watcher;
        output.WriteLine("pki states: " + string.Join(" | ", states.Distinct()));
        // Each step was a state of the pki resource on the dashboard, then Running again.
        foreach (var step in new[] { "step 1 of 3", "step 2 of 3", "step 3 of 3" })
        {
            Assert.Contains(states, s => s.StartsWith("Running: rotate-root", StringComparison.Ordinal) && s.EndsWith(step, StringComparison.Ordinal));
        }

        var newRoot = App.Pki.Lifecycle!.Authority.Ledger.Find(CertificateKind.Root, CertificateStatus.Active)[^1].Serial;
        Assert.NotEqual(oldRoot, newRoot);
        await App.UntilEveryServiceAsync("the new root as its only root", s => s.Bundle.Roots.Count == 1 && s.Trusts(newRoot));
        // And a line of its timeline.
        foreach (var step in new[] { "step 1 of 3", "step 2 of 3", "step 3 of 3", "root rotation done" })
        {
            await App.WaitForLogAsync("pki", l => l.Contains(step, StringComparison.Ordinal));
        }

        await WaitForOrdersAsync(20, "after the root rotation");
        Assert.Equal(0, App.Traffic().Failed);
    }

    [Fact]
    public async Task Rotating_the_root_from_the_cli_in_another_process_drives_the_running_app_and_fails_no_request()
    {
        await WaitForOrdersAsync(10, "before the CLI rotation");
        var oldRoot = App.Pki.Lifecycle!.Authority.Ledger.Find(CertificateKind.Root, CertificateStatus.Active)[^1].Serial;

        await UnderLoadAsync("root rotation from the CLI", async () =>
        {
            var (exit, stdout, stderr) = await CertBootstrapProcess.RunAsync(TimeSpan.FromMinutes(5), "rotate-root", "--pki", App.Pki.Options.PkiDirectory);
            output.WriteLine(stdout + stderr);
            Assert.True(exit == 0, stdout + stderr);
            Assert.Contains("root rotation done", stdout, StringComparison.Ordinal);
        });

        var newRoot = App.Pki.Lifecycle!.Authority.Ledger.Find(CertificateKind.Root, CertificateStatus.Active)[^1].Serial;
        Assert.NotEqual(oldRoot, newRoot);
        await App.UntilEveryServiceAsync("the CLI's new root as its only root", s => s.Bundle.Roots.Count == 1 && s.Trusts(newRoot));
        // The AppHost saw what the CLI did, on the pki timeline.
        await App.WaitForLogAsync("pki", l => l.Contains("(CLI)", StringComparison.Ordinal) && l.Contains("Root rotation step 3 of 3", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_fire_drill_reports_zero_failed_requests_and_how_long_each_step_took()
    {
        await WaitForOrdersAsync(10, "before the drill");

        var result = await App.App.ResourceCommands.ExecuteCommandAsync("pki", "fire-drill");

        Assert.True(result.Success, result.Message);
        output.WriteLine(result.Message);
        Assert.StartsWith("Fire drill done: 0 failed requests out of ", result.Message, StringComparison.Ordinal);
        var done = await App.WaitForLogAsync("pki", l => l.Contains("fire drill done", StringComparison.Ordinal));
        Assert.Contains("0 failed requests", done, StringComparison.Ordinal);
        Assert.Contains("renew every leaf", done, StringComparison.Ordinal);
        Assert.Contains("rotate the intermediate", done, StringComparison.Ordinal);
        Assert.Contains("revoke and replace inventory", done, StringComparison.Ordinal);
        // During the drill the pki resource's state named it; afterwards it is Running again.
        await Eventually.Until(() => App.App.ResourceNotifications.TryGetCurrentState("pki", out var pki) && pki!.Snapshot.State?.Text == "Running", "the pki Running again");
    }

    [Fact]
    public async Task A_second_rotation_while_one_runs_is_refused_and_says_which_one_runs()
    {
        using var held = CertBootstrap.Authority.OperationLock.Acquire(App.Pki.Options.Layout, "rotate-root (CLI)", TimeProvider.System);

        var result = await App.App.ResourceCommands.ExecuteCommandAsync("pki", "rotate-intermediate");

        Assert.False(result.Success);
        Assert.Contains("another rotation is running: rotate-root (CLI)", result.Message, StringComparison.Ordinal);
        // The pki resource shows what runs (the renewal loop reads the lock's holder every second).
        await Eventually.Until(() => App.Property("pki", "pki.activity")?.Contains("rotate-root (CLI)", StringComparison.Ordinal) == true, "the operation shown on the pki resource");
    }

    /// <summary>Runs <paramref name="step"/> while the shopper orders; asserts orders flowed during it and none failed.</summary>
    private async Task UnderLoadAsync(string name, Func<Task> step)
    {
        var before = App.Traffic();
        var watch = Stopwatch.StartNew();
        await step();
        await WaitForOrdersAsync(10, $"after {name}"); // orders placed after the step completed went through the new certificates too
        var after = App.Traffic();
        output.WriteLine($"{name}: {watch.Elapsed.TotalSeconds:0.0} s, {after.Succeeded - before.Succeeded} orders, {after.Failed - before.Failed} failed");
        Assert.True(after.Failed == before.Failed, $"{after.Failed - before.Failed} orders failed during {name}; see the shopper's console log");
    }

    private async Task WaitForOrdersAsync(int count, string when)
    {
        var from = App.Traffic().Succeeded;
        await Eventually.Until(() => App.Traffic().Succeeded >= from + count, $"{count} orders placed ({when})", TimeSpan.FromMinutes(2));
    }
}
