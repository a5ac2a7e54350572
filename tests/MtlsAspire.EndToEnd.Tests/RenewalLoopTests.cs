using Microsoft.Extensions.Time.Testing;
using MtlsAspire.EndToEnd.Tests.Infrastructure;
using MtlsAspire.Hosting;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>The AppHost's renewal loop on a fake clock: renew at 2/3 of the lifetime, republish CRLs before they go stale.</summary>
public class RenewalLoopTests
{
    private static readonly string[] s_services = ["inventory", "payment", "order"];

    [Fact]
    public async Task Leaves_are_renewed_at_two_thirds_of_their_lifetime_and_crls_before_half_their_validity()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        var renewed = new List<string>();
        using var scope = LifecycleScope.Create(state => new PkiOptions { StateDirectory = state, LeafLifetime = TimeSpan.FromHours(3) }, clock);
        var lifecycle = scope.Lifecycle;
        lifecycle.LeafChanged += change => renewed.Add($"{change.Verb} {change.Service}");
        await lifecycle.BootstrapAsync(CancellationToken.None);
        foreach (var service in s_services)
        {
            await lifecycle.EnsureLeafAsync(service, CancellationToken.None);
        }

        var first = s_services.ToDictionary(s => s, s => lifecycle.Authority.Ledger.ActiveLeaf(s)!.Serial);
        var crl = lifecycle.LastIntermediateCrl!.Number;

        // CRLs (valid 1 h) are re-signed once half their validity has passed, not before.
        clock.Advance(TimeSpan.FromMinutes(29));
        await lifecycle.RenewDueAsync(s_services, CancellationToken.None);
        Assert.Equal(crl, lifecycle.LastIntermediateCrl!.Number);
        clock.Advance(TimeSpan.FromMinutes(2));
        await lifecycle.RenewDueAsync(s_services, CancellationToken.None);
        Assert.True(lifecycle.LastIntermediateCrl!.Number > crl);

        // Leaves (3 h) are renewed at 2/3 of their lifetime, not before.
        clock.Advance(TimeSpan.FromHours(2) - TimeSpan.FromMinutes(32));
        await lifecycle.RenewDueAsync(s_services, CancellationToken.None);
        Assert.All(s_services, s => Assert.Equal(first[s], lifecycle.Authority.Ledger.ActiveLeaf(s)!.Serial));
        clock.Advance(TimeSpan.FromMinutes(2));
        await lifecycle.RenewDueAsync(s_services, CancellationToken.None);
        Assert.All(s_services, s => Assert.NotEqual(first[s], lifecycle.Authority.Ledger.ActiveLeaf(s)!.Serial));
        Assert.Contains("renewed order", renewed);
        Assert.DoesNotContain(renewed, r => r.StartsWith("renewed", StringComparison.Ordinal) && !s_services.Any(r.EndsWith));
    }

    [Fact]
    public async Task The_loop_ticks_on_the_injected_clock_renews_what_is_due_and_ends_when_cancelled()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        using var scope = LifecycleScope.Create(state => new PkiOptions { StateDirectory = state, LeafLifetime = TimeSpan.FromMinutes(30) }, clock);
        var lifecycle = scope.Lifecycle;
        await lifecycle.BootstrapAsync(CancellationToken.None);
        var first = (await lifecycle.EnsureLeafAsync("order", CancellationToken.None)).Serial;
        var renewed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lifecycle.LeafChanged += change => renewed.TrySetResult(change.Leaf.Entry.Serial);
        using var stop = new CancellationTokenSource();
        var loop = lifecycle.RunAsync(() => ["order"], stop.Token);

        // The timer (every second) runs on the fake clock: one step past the 20 min due time makes one tick.
        clock.Advance(TimeSpan.FromMinutes(21));
        var serial = await renewed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.NotEqual(first, serial);
        Assert.Equal(serial, lifecycle.Authority.Ledger.ActiveLeaf("order")!.Serial);

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => loop.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_renewal_into_a_directory_that_cannot_be_written_keeps_the_old_generation_turns_the_pki_unhealthy_and_says_why()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        using var scope = LifecycleScope.Create(state => new PkiOptions { StateDirectory = state, LeafLifetime = TimeSpan.FromMinutes(30) }, clock);
        var lifecycle = scope.Lifecycle;
        await lifecycle.BootstrapAsync(CancellationToken.None);
        var first = (await lifecycle.EnsureLeafAsync("order", CancellationToken.None)).Serial;
        var directory = lifecycle.Authority.Layout.ServiceDirectory("order");
        var served = File.ReadAllText(Path.Combine(directory, "tls.crt"));
        clock.Advance(TimeSpan.FromMinutes(21)); // past 2/3 of the lifetime: due

        using (UnwritableDirectory.Make(directory))
        {
            await lifecycle.RenewDueAsync(["order"], CancellationToken.None);

            // Nothing recorded, nothing swapped: the service keeps the generation it has.
            Assert.Equal(first, lifecycle.Authority.Ledger.ActiveLeaf("order")!.Serial);
            Assert.Equal(served, File.ReadAllText(Path.Combine(directory, "tls.crt")));
            var failure = Assert.Single(lifecycle.RenewalFailures);
            Assert.Equal("order", failure.Key);
            Assert.Contains(directory, failure.Value, StringComparison.Ordinal);
            var health = MtlsPkiBuilderExtensions.Health(lifecycle);
            Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, health.Status);
            Assert.Contains("renewal failed for order at ", health.Description, StringComparison.Ordinal);
            Assert.Contains("keep serving their current certificates", health.Description, StringComparison.Ordinal);
        }

        // Writable again: the next tick renews, and the pki is healthy.
        await lifecycle.RenewDueAsync(["order"], CancellationToken.None);
        Assert.NotEqual(first, lifecycle.Authority.Ledger.ActiveLeaf("order")!.Serial);
        Assert.Empty(lifecycle.RenewalFailures);
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, MtlsPkiBuilderExtensions.Health(lifecycle).Status);
    }

    [Fact]
    public async Task A_renewal_onto_a_full_disk_records_nothing_leaves_the_old_files_whole_turns_the_pki_unhealthy_and_says_why()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        using var scope = LifecycleScope.Create(state => new PkiOptions { StateDirectory = state, LeafLifetime = TimeSpan.FromMinutes(30) }, clock);
        // The whole state directory on one small file system, as on a disk of its own: the CA's ledger and the service files.
        using var disk = SmallFileSystem.Mount(scope.StateDirectory, megabytes: 8);
        var lifecycle = scope.Lifecycle;
        await lifecycle.BootstrapAsync(CancellationToken.None);
        var first = (await lifecycle.EnsureLeafAsync("order", CancellationToken.None)).Serial;
        var directory = lifecycle.Authority.Layout.ServiceDirectory("order");
        var certificate = File.ReadAllBytes(Path.Combine(directory, "tls.crt"));
        var key = File.ReadAllBytes(Path.Combine(directory, "tls.key"));
        clock.Advance(TimeSpan.FromMinutes(21)); // past 2/3 of the lifetime: due

        disk.Fill();
        await lifecycle.RenewDueAsync(["order"], CancellationToken.None);

        // Nothing recorded, nothing half-written in place of a good file: what the service (re)loads is its old pair.
        Assert.Equal(first, lifecycle.Authority.Ledger.ActiveLeaf("order")!.Serial);
        Assert.True(certificate.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(directory, "tls.crt"))), "tls.crt changed");
        Assert.True(key.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(directory, "tls.key"))), "tls.key changed"); // bytes never printed
        using (var served = ServiceCredentials.Load(new CredentialDirectory(directory)))
        {
            Assert.Equal(first, served.Leaf.SerialNumber, ignoreCase: true);
        }

        var failure = Assert.Single(lifecycle.RenewalFailures);
        Assert.Equal("order", failure.Key);
        Assert.Contains("No space left on device", failure.Value, StringComparison.Ordinal);
        var health = MtlsPkiBuilderExtensions.Health(lifecycle);
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, health.Status);
        Assert.Contains("renewal failed for order at ", health.Description, StringComparison.Ordinal);
        Assert.Contains("No space left on device", health.Description, StringComparison.Ordinal);

        // Space again: the next tick renews, and the pki is healthy.
        disk.Drain();
        await lifecycle.RenewDueAsync(["order"], CancellationToken.None);
        var renewed = lifecycle.Authority.Ledger.ActiveLeaf("order")!.Serial;
        Assert.NotEqual(first, renewed);
        using (var served = ServiceCredentials.Load(new CredentialDirectory(directory)))
        {
            Assert.Equal(renewed, served.Leaf.SerialNumber, ignoreCase: true);
        }

        Assert.Empty(lifecycle.RenewalFailures);
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, MtlsPkiBuilderExtensions.Health(lifecycle).Status);
    }
}
