using Microsoft.Extensions.Time.Testing;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.EndToEnd.Tests.Infrastructure;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>An old state directory and the root passphrase: the test sets MTLS_ROOT_PASSPHRASE, so it runs alone.</summary>
[Collection(ProcessEnvironmentGroup.Name)]
public class StateAndSecretsTests
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
}
