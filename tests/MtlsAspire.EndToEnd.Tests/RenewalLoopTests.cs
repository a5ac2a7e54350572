using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Hosting;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>The AppHost's renewal loop on a fake clock: renew at 2/3 of the lifetime, republish CRLs before they go stale.</summary>
public class RenewalLoopTests
{
    private static readonly string[] s_services = ["inventory", "payment", "order"];

    [Fact]
    public async Task Leaves_are_renewed_at_two_thirds_of_their_lifetime_and_crls_before_half_their_validity()
    {
        var state = Path.Combine(Path.GetTempPath(), "mtls-apphost-tests", Guid.NewGuid().ToString("N")[..12]);
        try
        {
            var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
            var options = new PkiOptions { StateDirectory = state, LeafLifetime = TimeSpan.FromHours(3) };
            var renewed = new List<string>();
            using var lifecycle = new CertificateLifecycle(options, PassphraseSource.Local, clock, NullLogger.Instance);
            lifecycle.LeafChanged += change => renewed.Add($"{change.Verb} {change.Service}");
            await lifecycle.BootstrapAsync(CancellationToken.None);
            foreach (var service in s_services)
            {
                await lifecycle.EnsureLeafAsync(service, CancellationToken.None);
            }

            var first = s_services.ToDictionary(s => s, s => lifecycle.Authority.Ledger.ActiveLeaf(s)!.Serial);
            var crl = lifecycle.LastIntermediateCrl!.Number;

            clock.Advance(TimeSpan.FromHours(2) - TimeSpan.FromMinutes(1));
            await lifecycle.RenewDueAsync(s_services, CancellationToken.None);
            Assert.All(s_services, s => Assert.Equal(first[s], lifecycle.Authority.Ledger.ActiveLeaf(s)!.Serial));
            Assert.True(lifecycle.LastIntermediateCrl!.Number > crl); // 1h59m > half the 1h CRL validity: re-signed

            clock.Advance(TimeSpan.FromMinutes(2));
            await lifecycle.RenewDueAsync(s_services, CancellationToken.None);
            Assert.All(s_services, s => Assert.NotEqual(first[s], lifecycle.Authority.Ledger.ActiveLeaf(s)!.Serial));
            Assert.Contains("renewed order", renewed);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (Directory.Exists(state))
            {
                Directory.Delete(state, recursive: true);
            }
        }
    }
}
