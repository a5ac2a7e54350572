using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Fleet;
using MtlsAspire.EndToEnd.Tests.Infrastructure;
using MtlsAspire.Hosting;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>Expiry thresholds on a fake clock: the lifecycle's verdicts, its timeline lines, and Degraded on the dashboard.</summary>
public class ExpiryTests
{
    [Fact]
    public async Task Crossing_the_warning_threshold_logs_once_and_renewal_clears_it_and_an_expired_leaf_is_reissued_on_the_next_tick()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        var timeline = new ListLogger();
        // Warn with half the lifetime left: before the renewal at 2/3, so the warning can be seen without a broken renewal.
        using var scope = LifecycleScope.Create(state => new PkiOptions { StateDirectory = state, LeafLifetime = TimeSpan.FromHours(10), Expiry = new ExpiryPolicy(0.5, TimeSpan.FromHours(1)) },
            clock, timeline);
        var lifecycle = scope.Lifecycle;
        var changes = new ConcurrentQueue<(string Service, ExpiryState State)>();
        lifecycle.ExpiryChanged += (service, status) => changes.Enqueue((service, status.State));
        await lifecycle.BootstrapAsync(CancellationToken.None);
        await lifecycle.EnsureLeafAsync("order", CancellationToken.None);

        await lifecycle.RenewDueAsync(["order"], CancellationToken.None);
        Assert.Equal(ExpiryState.Ok, lifecycle.ExpiryOf("order")!.State);

        clock.Advance(TimeSpan.FromHours(5) + TimeSpan.FromMinutes(10)); // less than half left, renewal (at 6 h 40) not due
        await lifecycle.RenewDueAsync(["order"], CancellationToken.None);
        await lifecycle.RenewDueAsync(["order"], CancellationToken.None);

        var warning = lifecycle.ExpiryOf("order")!;
        Assert.Equal(ExpiryState.Warning, warning.State);
        Assert.Contains("less than the warning 5h", warning.Detail, StringComparison.Ordinal);
        Assert.Contains("notAfter", warning.Detail, StringComparison.Ordinal);
        Assert.Single(timeline.Lines, l => l.Contains("expiry warning for order", StringComparison.Ordinal)); // once per crossing, not per tick

        clock.Advance(TimeSpan.FromHours(1) + TimeSpan.FromMinutes(40)); // past 2/3: renewed, no longer near expiry
        await lifecycle.RenewDueAsync(["order"], CancellationToken.None);
        Assert.Equal(ExpiryState.Ok, lifecycle.ExpiryOf("order")!.State);
        Assert.Contains(timeline.Lines, l => l.Contains("order is no longer near expiry", StringComparison.Ordinal));
        Assert.Equal([ExpiryState.Ok, ExpiryState.Warning, ExpiryState.Ok], changes.Where(c => c.Service == "order").Select(c => c.State));

        // An AppHost that was down for longer than the lifetime: the next tick re-issues the expired leaf and says so.
        clock.Advance(TimeSpan.FromHours(11));
        await lifecycle.RenewDueAsync(["order"], CancellationToken.None);
        Assert.Contains(timeline.Lines, l => l.Contains("certificate re-issued (the previous one had expired) for order", StringComparison.Ordinal));
        Assert.Equal(ExpiryState.Ok, lifecycle.ExpiryOf("order")!.State);
    }

    [Fact]
    public async Task An_intermediate_that_expires_within_a_week_is_rotated_by_the_running_loop_and_leaves_move_to_the_new_one()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        var timeline = new ListLogger();
        using var scope = LifecycleScope.Create(state => new PkiOptions { StateDirectory = state, ReissueJitter = TimeSpan.Zero }, clock, timeline);
        var lifecycle = scope.Lifecycle;
        await lifecycle.BootstrapAsync(CancellationToken.None);
        await lifecycle.EnsureLeafAsync("order", CancellationToken.None);
        var first = lifecycle.Authority.Ledger.Find(CertBootstrap.Ledger.CertificateKind.Intermediate, CertBootstrap.Ledger.CertificateStatus.Active)[^1];

        clock.SetUtcNow(first.NotAfter - TimeSpan.FromDays(6)); // the AppHost ran for almost a year without a restart
        await lifecycle.RenewDueAsync(["order"], CancellationToken.None);
        await lifecycle.RenewDueAsync(["order"], CancellationToken.None);

        var second = lifecycle.Authority.Ledger.Find(CertBootstrap.Ledger.CertificateKind.Intermediate, CertBootstrap.Ledger.CertificateStatus.Active)[^1];
        Assert.NotEqual(first.Serial, second.Serial);
        Assert.Contains(timeline.Lines, l => l.Contains($"the intermediate {first.Subject} expires on", StringComparison.Ordinal) && l.Contains("rotating it", StringComparison.Ordinal));
        Assert.Equal(second.Serial, lifecycle.Authority.Ledger.ActiveLeaf("order")!.IssuerSerial);
    }

    [Fact]
    public async Task What_a_service_reports_counts_too_a_lagging_service_near_expiry_is_critical()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        var timeline = new ListLogger();
        using var scope = LifecycleScope.Create(state => new PkiOptions { StateDirectory = state }, clock, timeline);
        var lifecycle = scope.Lifecycle;
        await lifecycle.BootstrapAsync(CancellationToken.None);
        var leaf = await lifecycle.EnsureLeafAsync("payment", CancellationToken.None);
        // The ledger's leaf is fresh, but payment still serves an old one that is about to expire (it never reloaded).
        var critical = new ExpiryStatus(ExpiryState.Critical, TimeSpan.FromMinutes(20), "the certificate expires in 20m, less than the critical 1h");
        lifecycle.Fleet = new StaticFleet(new FleetMember("payment", Report(leaf.Serial, critical), null));

        await lifecycle.ObserveFleetAsync(CancellationToken.None);
        await lifecycle.RenewDueAsync(["payment"], CancellationToken.None);

        Assert.Equal(ExpiryState.Critical, lifecycle.ExpiryOf("payment")!.State);
        Assert.Contains(timeline.Lines, l => l.Contains("expiry Critical for payment", StringComparison.Ordinal) && l.Contains("critical 1h", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_leaf_past_the_warning_threshold_turns_its_resource_degraded_on_the_dashboard()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        await using var app = await TestApp.StartAsync(
            args: ["--no-workers", "--leaf-lifetime", "10m", "--MtlsAspire:Expiry:WarningFraction", "0.5"],
            configure: builder => builder.Services.AddKeyedSingleton<TimeProvider>(MtlsPkiBuilderExtensions.TimeProviderKey, clock));

        clock.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(30)); // less than half of 10 min left, renewal (6 min 40) not due

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var degraded = await app.App.ResourceNotifications.WaitForResourceAsync("inventory", e => e.Snapshot.HealthStatus == HealthStatus.Degraded, timeout.Token);
        Assert.Contains(degraded.Snapshot.HealthReports, r => r.Name == "inventory-certificate-expiry" && r.Status == HealthStatus.Degraded
            && r.Description!.Contains("renewal is late", StringComparison.Ordinal));
        await app.WaitForLogAsync("pki", l => l.Contains("expiry warning for inventory", StringComparison.Ordinal));
        Assert.Equal(ExpiryState.Warning, app.Pki.Lifecycle!.ExpiryOf("inventory")!.State);

        clock.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(20)); // past 2/3: renewed, healthy again
        await app.App.ResourceNotifications.WaitForResourceAsync("inventory", e => e.Snapshot.HealthStatus == HealthStatus.Healthy, timeout.Token);
    }

    private static CredentialStatus Report(string serial, ExpiryStatus expiry) => new(
        "spiffe://mtls-aspire.local/ns/development/sa/payment", 1, DateTimeOffset.UtcNow,
        new LeafStatus(serial, DateTimeOffset.UtcNow.AddHours(-23), DateTimeOffset.UtcNow.AddMinutes(20), "CN=x", null),
        new BundleStatus("00", []), [], expiry);

    private sealed class StaticFleet(params FleetMember[] members) : IFleet
    {
        public Task<IReadOnlyList<FleetMember>> ObserveAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<FleetMember>>(members);
    }

    private sealed class ListLogger : ILogger
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Enqueue(formatter(state, exception));
    }
}
