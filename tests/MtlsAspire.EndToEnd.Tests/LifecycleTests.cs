#pragma warning disable CS0618 // AddProject, as the AppHost adds its services (MtlsAspire.AppHost/Program.cs says why not AddDotnetProject)
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.EndToEnd.Tests.Infrastructure;
using MtlsAspire.Hosting;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>Starting from old state, stopping cleanly, and the ways a start can go wrong — each on an app of its own.</summary>
public class LifecycleTests
{
    private static readonly string[] s_notStarted = [KnownResourceStates.Waiting, KnownResourceStates.FailedToStart, KnownResourceStates.NotStarted];

    [Fact]
    public async Task A_service_that_crashes_at_start_or_was_never_built_shows_as_exited_with_its_reason_and_only_what_waits_for_it_keeps_waiting()
    {
        await using var app = await TestApp.StartAsync(waitHealthy: false,
            configure: builder =>
            {
                builder.CreateResourceBuilder<ProjectResource>("inventory").WithEnvironment("Mtls__MinimumTlsVersion", "Tls9");
                builder.AddProject("ghost", Ghost.Project).WithMtlsIdentity(builder.CreateResourceBuilder<PkiResource>("pki"));
            });
        // For every wait below together: the ghost's `dotnet run` evaluates its project before it fails, which took over
        // two minutes beside six starting services on a loaded 2-core machine.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));

        var crashed = await app.App.ResourceNotifications.WaitForResourceAsync("inventory",
            e => e.Snapshot.State?.Text is "Exited" or "FailedToStart" or "Finished", timeout.Token);

        Assert.NotEqual(0, crashed.Snapshot.ExitCode);
        await app.WaitForLogAsync("inventory", l => l.Contains("Mtls:MinimumTlsVersion", StringComparison.Ordinal));
        await app.App.ResourceNotifications.WaitForResourceHealthyAsync("payment", timeout.Token);
        // order calls inventory per request, so it starts without it; the traffic sources wait for what they call.
        await app.App.ResourceNotifications.WaitForResourceHealthyAsync("order", timeout.Token);
        foreach (var waiting in new[] { "shopper", "intruder" })
        {
            Assert.True(app.App.ResourceNotifications.TryGetCurrentState(waiting, out var source));
            Assert.Contains(source!.Snapshot.State?.Text ?? KnownResourceStates.NotStarted, s_notStarted); // no state yet: never created
        }

        // A project whose build output is missing: shown as not started, with the reason in its console log.
        var ghost = await app.App.ResourceNotifications.WaitForResourceAsync("ghost",
            e => e.Snapshot.State?.Text is "Exited" or "FailedToStart" or "Finished", timeout.Token);
        Assert.NotEqual(0, ghost.Snapshot.ExitCode ?? 1);
        await app.WaitForLogAsync("ghost", l => l.Contains("Ghost", StringComparison.Ordinal));
        Directory.Delete(Path.GetDirectoryName(Path.GetDirectoryName(Ghost.Project))!, recursive: true);
    }

    [Fact]
    public async Task A_wrong_root_passphrase_fails_the_pki_with_a_clear_message_starts_no_identity_and_loses_nothing()
    {
        var state = TestApp.NewStateDirectory();
        var (created, _) = CertificateAuthority.Initialize(Path.Combine(state, "pki"), new PkiSettings(), PassphraseSource.FromValue("the-right-one"), TimeProvider.System);
        created.Issue(new LeafRequest("order") { DnsNames = ["localhost"] });
        var before = created.Ledger.All().Select(e => e.Serial).Order(StringComparer.Ordinal).ToList();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var wrong = Path.Combine(Path.GetTempPath(), $"wrong-passphrase-{Guid.NewGuid():N}");
        File.WriteAllText(wrong, "not-the-right-one");
        try
        {
            await using var app = await TestApp.StartAsync(state, ["--no-workers", "--MtlsAspire:PassphraseFile", wrong], waitHealthy: false);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));

            await app.App.ResourceNotifications.WaitForResourceAsync("pki", e => e.Snapshot.State?.Text == KnownResourceStates.FailedToStart, timeout.Token);
            var line = await app.WaitForLogAsync("pki", l => l.Contains("could not be opened", StringComparison.Ordinal));

            Assert.Contains(wrong, line, StringComparison.Ordinal);
            Assert.DoesNotContain("not-the-right-one", line, StringComparison.Ordinal);
            AssertNeverStarted(app, "order");
            var after = new CertificateLedger(Path.Combine(state, "pki", "ledger.db")).All().Select(e => e.Serial).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(before, after);
        }
        finally
        {
            File.Delete(wrong);
        }
    }

    [Theory]
    [InlineData("pki.json")]
    [InlineData("ledger.db")]
    public async Task A_corrupt_state_file_fails_the_pki_with_a_clear_message_and_overwrites_nothing(string file)
    {
        var state = TestApp.NewStateDirectory();
        CertificateAuthority.Initialize(Path.Combine(state, "pki"), new PkiSettings(), PassphraseSource.Local, TimeProvider.System);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var path = Path.Combine(state, "pki", file);
        var bytes = File.ReadAllBytes(path);
        var damaged = file == "pki.json" ? bytes[..(bytes.Length / 2)] : [.. System.Text.Encoding.ASCII.GetBytes("not a database, just garbage bytes"), .. bytes[64..]];
        File.WriteAllBytes(path, damaged);
        foreach (var journal in Directory.GetFiles(Path.Combine(state, "pki"), "ledger.db-*"))
        {
            File.Delete(journal);
        }

        await using var app = await TestApp.StartAsync(state, ["--no-workers"], waitHealthy: false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));

        await app.App.ResourceNotifications.WaitForResourceAsync("pki", e => e.Snapshot.State?.Text == KnownResourceStates.FailedToStart, timeout.Token);
        await app.WaitForLogAsync("pki", l => l.Contains("could not be opened", StringComparison.Ordinal));

        Assert.Equal(damaged, File.ReadAllBytes(path));
        AssertNeverStarted(app, "order");
    }

    /// <summary>
    /// Never created: Aspire 17 may not have published the resource's first snapshot yet when the pki fails this early (no
    /// state at all), or shows it waiting, failed to start or not started; never Starting or Running.
    /// </summary>
    private static void AssertNeverStarted(TestApp app, string resource)
    {
        if (app.App.ResourceNotifications.TryGetCurrentState(resource, out var state))
        {
            Assert.Contains(state.Snapshot.State?.Text ?? KnownResourceStates.NotStarted, s_notStarted);
        }
    }
}
