using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Fleet;
using MtlsAspire.EndToEnd.Tests.Infrastructure;
using MtlsAspire.Hosting;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>The AppHost's own root rotation, stuck on a service that never loads the bundle, abandoned from the dashboard.</summary>
public class AbandonTests
{
    [Fact]
    public async Task Abandon_stops_the_rotation_that_waits_for_a_stuck_service_and_takes_the_new_root_out_again()
    {
        using var scope = LifecycleScope.Create(state => new PkiOptions { StateDirectory = state }, TimeProvider.System);
        var lifecycle = scope.Lifecycle;
        await lifecycle.BootstrapAsync(CancellationToken.None);
        var leaf = await lifecycle.EnsureLeafAsync("order", CancellationToken.None);
        var root = lifecycle.Authority.Ledger.Find(CertBootstrap.Ledger.CertificateKind.Root, CertBootstrap.Ledger.CertificateStatus.Active)[^1];
        // order answers, but never loads anything new: it keeps reporting the one root it started with.
        var stuck = new CredentialStatus("spiffe://mtls-aspire.local/ns/development/sa/order", 1, DateTimeOffset.UtcNow,
            new LeafStatus(leaf.Serial, leaf.NotBefore, leaf.NotAfter, "CN=x", leaf.IssuerSerial),
            new BundleStatus("00", [new RootStatus(root.Serial, root.Subject, root.NotAfter)]), [], new ExpiryStatus(ExpiryState.Ok, TimeSpan.FromHours(20), "ok"));
        lifecycle.Fleet = new StuckFleet(new FleetMember("order", stuck, null));

        var rotation = lifecycle.RotateRootAsync("dashboard", CancellationToken.None);
        await Eventually.Until(() => lifecycle.Authority.RootRotation().Phase == RootRotationPhase.NewRootTrusted, "step 1 done, waiting for order");
        Assert.False(rotation.IsCompleted);

        var abandoned = await lifecycle.AbandonRootRotationAsync("dashboard", CancellationToken.None);

        var stopped = await Assert.ThrowsAsync<PkiException>(() => rotation);
        Assert.Contains("abandoned", stopped.Message, StringComparison.Ordinal);
        Assert.NotEqual(root.Serial, abandoned.Serial);
        Assert.Equal(RootRotationPhase.None, lifecycle.Authority.RootRotation().Phase);
        Assert.Equal([root.Serial], lifecycle.Authority.TrustedRoots().Select(r => r.SerialNumber));
    }

    private sealed class StuckFleet(params FleetMember[] members) : IFleet
    {
        public Task<IReadOnlyList<FleetMember>> ObserveAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<FleetMember>>(members);
    }
}
