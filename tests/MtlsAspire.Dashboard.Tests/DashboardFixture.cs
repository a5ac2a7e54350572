using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MtlsAspire.Dashboard.Tests;

/// <summary>
/// The real AppHost with its dashboard, started once for the whole project: DCP, the dashboard and every resource, on
/// loopback ports chosen at start. The dashboard runs the way Aspire's testing builder runs it when asked
/// (<see cref="DistributedApplicationTestingBuilderOptions.EnableDashboard"/>): dynamic ports, plain HTTP on loopback
/// (ASPIRE_ALLOW_UNSECURED_TRANSPORT), a browser token generated for this app, no interaction prompts.
/// </summary>
public sealed class DashboardFixture : IAsyncLifetime
{
    /// <summary>Every resource of the AppHost, in the order Program.cs adds them.</summary>
    public static readonly string[] Resources = ["pki", "legacy-ledger", "legacy-proxy", "inventory", "payment", "order", "shopper", "intruder"];

    /// <summary>The resources with a SPIFFE identity (WithMtlsIdentity).</summary>
    public static readonly string[] Identities = ["legacy-proxy", "inventory", "payment", "order", "shopper", "intruder"];

    private static readonly TimeSpan s_startTimeout = TimeSpan.FromMinutes(4);

    private DistributedApplication? _app;
    private string? _stateDirectory;

    public DistributedApplication App => _app ?? throw new InvalidOperationException("The app has not started.");

    /// <summary>The dashboard's login URL (<c>/login?t=TOKEN</c>): opening it signs a browser in.</summary>
    public Uri LoginUrl { get; private set; } = null!;

    /// <summary>The dashboard's root.</summary>
    public Uri DashboardUrl => new(LoginUrl.GetLeftPart(UriPartial.Authority) + "/");

    /// <summary>The browser token from <see cref="LoginUrl"/>.</summary>
    public string BrowserToken { get; private set; } = null!;

    public string StateDirectory => _stateDirectory ?? throw new InvalidOperationException("The app has not started.");

    public DashboardBrowser Browser { get; } = new();

    public async Task InitializeAsync()
    {
        _stateDirectory = Directory.CreateTempSubdirectory("mtls-dashboard-tests-").FullName;
        try
        {
            await StartAsync();
        }
        catch
        {
            // xunit does not dispose a fixture whose InitializeAsync threw: stop what did start, here.
            await DisposeAsync();
            throw;
        }
    }

    private async Task StartAsync()
    {
        using var timeout = new CancellationTokenSource(s_startTimeout);
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.MtlsAspire_AppHost>(
            new DistributedApplicationTestingBuilderOptions { EnableDashboard = true }, ["--state-dir", StateDirectory], timeout.Token);
        _app = await builder.BuildAsync(timeout.Token);
        await _app.StartAsync(timeout.Token);

        var model = _app.Services.GetRequiredService<DistributedApplicationModel>();
        Assert.Equal(Resources.Order(StringComparer.Ordinal), model.Resources.Select(r => r.Name).Where(Resources.Contains).Order(StringComparer.Ordinal));
        foreach (var resource in Resources)
        {
            await WaitHealthyAsync(resource, timeout.Token);
        }

        LoginUrl = await _app.GetDashboardUrlAsync(timeout.Token);
        BrowserToken = System.Web.HttpUtility.ParseQueryString(LoginUrl.Query)["t"]
            ?? throw new InvalidOperationException($"The dashboard URL carries no browser token (t=): {LoginUrl.GetLeftPart(UriPartial.Path)}");
    }

    private async Task WaitHealthyAsync(string resource, CancellationToken cancellationToken)
    {
        try
        {
            await App.ResourceNotifications.WaitForResourceHealthyAsync(resource, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            App.ResourceNotifications.TryGetCurrentState(resource, out var state);
            throw new TimeoutException($"'{resource}' was not healthy within {s_startTimeout}: state {state?.Snapshot.State?.Text ?? "unknown"}, " +
                $"health {state?.Snapshot.HealthStatus?.ToString() ?? "unknown"}.");
        }
    }

    /// <summary>The current value of a property of a resource's snapshot (what the dashboard's details pane shows).</summary>
    public string? Property(string resource, string property) =>
        App.ResourceNotifications.TryGetCurrentState(resource, out var state)
            ? state.Snapshot.Properties.LastOrDefault(p => p.Name == property)?.Value?.ToString()
            : null;

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        if (Interlocked.Exchange(ref _app, null) is { } app)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            try
            {
                await app.StopAsync(timeout.Token);
            }
            finally
            {
                await app.DisposeAsync();
            }
        }

        if (Interlocked.Exchange(ref _stateDirectory, null) is { } state && Directory.Exists(state))
        {
            Directory.Delete(state, recursive: true);
        }
    }
}

[CollectionDefinition(Name)]
public sealed class DashboardGroup : ICollectionFixture<DashboardFixture>
{
    public const string Name = "dashboard";
}
