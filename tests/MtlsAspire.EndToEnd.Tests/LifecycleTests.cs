using Microsoft.Extensions.Time.Testing;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.EndToEnd.Tests.Infrastructure;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>Starting from old state, stopping cleanly, and the ways a start can go wrong — each on an app of its own.</summary>
public class LifecycleTests
{
    private static readonly string[] s_services = ["inventory", "payment", "legacy-proxy", "order"];

    [Fact]
    public async Task An_old_state_dir_with_expired_leaves_is_reissued_at_start_the_passphrase_reaches_no_child_and_stopping_leaves_no_process()
    {
        var state = TestApp.NewStateDirectory();
        var passphrase = $"test-passphrase-{Guid.NewGuid():N}";
        var past = new FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(-3));
        var (old, _) = CertificateAuthority.Initialize(Path.Combine(state, "pki"), new PkiSettings(), PassphraseSource.FromValue(passphrase), past);
        var expired = s_services.ToDictionary(s => s, s => old.Issue(new LeafRequest(s) { DnsNames = ["localhost"] }).Entry.Serial);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();

        // The AppHost reads the passphrase from its environment and removes it before any child starts.
        Environment.SetEnvironmentVariable(PassphraseSource.EnvironmentVariable, passphrase);
        var app = await TestApp.StartAsync(state, ["--no-workers"]);
        List<int> pids;
        try
        {
            Assert.Null(Environment.GetEnvironmentVariable(PassphraseSource.EnvironmentVariable));
            foreach (var (service, serial) in expired)
            {
                Assert.NotEqual(serial, await app.ServedCertificateSerialAsync(service, "order"));
            }

            await app.WaitForLogAsync("pki", l => l.Contains("re-issued (the previous one had expired)", StringComparison.Ordinal));
            pids = [.. s_services.Append("legacy-ledger").Select(app.ProcessId)];
            foreach (var pid in pids)
            {
                Assert.DoesNotContain(passphrase, File.ReadAllText($"/proc/{pid}/environ"), StringComparison.Ordinal);
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable(PassphraseSource.EnvironmentVariable, null);
            await app.DisposeAsync();
        }

        await Eventually.Until(() => !pids.Any(ProcessTree.IsRunning), "every child stopped", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_service_that_crashes_at_start_shows_as_exited_with_its_reason_and_its_dependents_never_start()
    {
        await using var app = await TestApp.StartAsync(args: ["--no-workers"], waitHealthy: false,
            configure: builder => builder.CreateResourceBuilder<ProjectResource>("inventory").WithEnvironment("Mtls__MinimumTlsVersion", "Tls9"));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));

        var crashed = await app.App.ResourceNotifications.WaitForResourceAsync("inventory",
            e => e.Snapshot.State?.Text is "Exited" or "FailedToStart" or "Finished", timeout.Token);

        Assert.NotEqual(0, crashed.Snapshot.ExitCode);
        await app.WaitForLogAsync("inventory", l => l.Contains("Mtls:MinimumTlsVersion", StringComparison.Ordinal));
        await app.App.ResourceNotifications.WaitForResourceHealthyAsync("payment", timeout.Token);
        Assert.True(app.App.ResourceNotifications.TryGetCurrentState("order", out var order));
        Assert.NotEqual(KnownResourceStates.Running, order!.Snapshot.State?.Text);
    }

    [Fact]
    public async Task A_wrong_root_passphrase_fails_the_pki_with_a_clear_message_starts_nothing_and_loses_nothing()
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
            Assert.True(app.App.ResourceNotifications.TryGetCurrentState("order", out var order));
            Assert.NotEqual(KnownResourceStates.Running, order!.Snapshot.State?.Text);
            var after = new CertificateLedger(Path.Combine(state, "pki", "ledger.db")).All().Select(e => e.Serial).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(before, after);
        }
        finally
        {
            File.Delete(wrong);
        }
    }

    [Fact]
    public async Task A_corrupt_pki_settings_file_fails_the_pki_naming_the_file_and_overwrites_nothing()
    {
        var state = TestApp.NewStateDirectory();
        CertificateAuthority.Initialize(Path.Combine(state, "pki"), new PkiSettings(), PassphraseSource.Local, TimeProvider.System);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var settings = Path.Combine(state, "pki", "pki.json");
        var text = File.ReadAllText(settings);
        File.WriteAllText(settings, text[..(text.Length / 2)]); // half-written

        await using var app = await TestApp.StartAsync(state, ["--no-workers"], waitHealthy: false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));

        await app.App.ResourceNotifications.WaitForResourceAsync("pki", e => e.Snapshot.State?.Text == KnownResourceStates.FailedToStart, timeout.Token);
        var line = await app.WaitForLogAsync("pki", l => l.Contains("could not be opened", StringComparison.Ordinal));

        Assert.Contains("pki.json", line, StringComparison.Ordinal);
        Assert.Equal(text[..(text.Length / 2)], File.ReadAllText(settings));
    }
}
