using MtlsAspire.CertBootstrap.Fleet;
using MtlsAspire.Hosting;

namespace MtlsAspire.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The whole app under continuous load, started once for the "load" collection: the shopper orders every 50 ms through
/// every hop (shopper → order → inventory and payment → legacy-proxy → legacy-ledger), on pooled connections, with every
/// third order closing its connection so the next one is a new, resumed TLS connection. The AppHost counts the outcomes.
/// </summary>
public sealed class LoadFixture : IAsyncLifetime
{
    public TestApp App { get; private set; } = null!;

    public async Task InitializeAsync() =>
        App = await TestApp.StartAsync(shopping: true, args: ["--MtlsAspire:ReissueJitter", "3s", "--MtlsAspire:StepTimeout", "2m"], configure: builder =>
        {
            builder.CreateResourceBuilder<ProjectResource>("shopper")
                .WithEnvironment("Shopper__Interval", "00:00:00.05")
                .WithEnvironment("Shopper__CloseConnectionEvery", "3");
            builder.CreateResourceBuilder<ProjectResource>("intruder").WithEnvironment("Intruder__Interval", "00:00:05");
        });

    public async Task DisposeAsync() => await App.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class LoadGroup : ICollectionFixture<LoadFixture>
{
    public const string Name = "load";
}

/// <summary>Reading the AppHost's view of the running services.</summary>
public static class FleetExtensions
{
    /// <summary>The shopper's request outcomes counted by the AppHost so far.</summary>
    internal static TrafficCount Traffic(this TestApp app) => app.Pki.Traffic.Count;

    /// <summary>What each running service reported at the AppHost's last tick.</summary>
    public static IReadOnlyList<FleetMember> Fleet(this TestApp app) => app.Pki.Lifecycle!.LatestFleet;

    /// <summary>Waits until every identity answers its status and satisfies <paramref name="loaded"/>.</summary>
    public static Task UntilEveryServiceAsync(this TestApp app, string what, Func<Verification.Status.CredentialStatus, bool> loaded, TimeSpan? timeout = null) =>
        Eventually.Until(() =>
        {
            var fleet = app.Fleet();
            return fleet.Count >= 6 && fleet.All(m => m.Status is { } s && loaded(s));
        }, $"every service reporting {what}", timeout ?? TimeSpan.FromMinutes(2));
}
