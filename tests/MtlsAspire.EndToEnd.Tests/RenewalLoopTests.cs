using Microsoft.Extensions.Time.Testing;
using MtlsAspire.AppHost;
using MtlsAspire.Hosting;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>The AppHost's renewal loop on a fake clock: renew at 2/3 of the lifetime, republish CRLs before they go stale.</summary>
public class RenewalLoopTests
{
    [Fact]
    public void Leaves_are_renewed_at_two_thirds_of_their_lifetime_and_crls_before_half_their_validity()
    {
        var state = Path.Combine(Path.GetTempPath(), "mtls-apphost-tests", Guid.NewGuid().ToString("N")[..12]);
        try
        {
            var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
            var options = new MtlsApplicationOptions { StateDirectory = state, LeafLifetime = TimeSpan.FromHours(3), Output = TextWriter.Null };
            var builder = new MtlsApplicationBuilder(options, typeof(Program).Assembly);
            Program.Describe(builder);
            var identities = builder.Resources.Where(r => r.HasIdentity).ToList();
            var lines = new List<string>();
            var lifecycle = new CertificateLifecycle(options, clock, lines.Add);
            lifecycle.Bootstrap(identities);
            var first = identities.ToDictionary(r => r.Name, r => lifecycle.Authority.Ledger.ActiveLeaf(r.Name)!.Serial);
            var crl = lifecycle.Authority.Ledger.CaVersion();

            clock.Advance(TimeSpan.FromHours(2) - TimeSpan.FromMinutes(1));
            lifecycle.RenewDue(identities);
            Assert.All(identities, r => Assert.Equal(first[r.Name], lifecycle.Authority.Ledger.ActiveLeaf(r.Name)!.Serial));
            Assert.NotEqual(crl, lifecycle.Authority.Ledger.CaVersion()); // 1h55m > half the 1h CRL validity: re-signed

            clock.Advance(TimeSpan.FromMinutes(2));
            lifecycle.RenewDue(identities);
            Assert.All(identities, r => Assert.NotEqual(first[r.Name], lifecycle.Authority.Ledger.ActiveLeaf(r.Name)!.Serial));
            Assert.Contains(lines, l => l.StartsWith("certificate renewed for order", StringComparison.Ordinal));
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
