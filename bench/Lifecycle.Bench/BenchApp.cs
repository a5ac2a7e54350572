using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MtlsAspire.CertBootstrap.Fleet;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Hosting;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.Lifecycle.Bench;

/// <summary>
/// The real AppHost (its Program runs in this process, Aspire.Hosting.Testing) with real DCP and service processes, on a
/// temporary state directory, set up as <see cref="AppSetup"/> says. The shopper places no orders (the benchmark is the
/// traffic) and the intruder tries once a minute.
/// </summary>
internal sealed class BenchApp : IAsyncDisposable
{
    private readonly HttpFleet _fleet;
    private readonly Lazy<CertificateLedger> _ledger;

    private BenchApp(DistributedApplication app, string state)
    {
        App = app;
        StateDirectory = state;
        _fleet = HttpFleet.FromEndpointsFile(Path.Combine(state, "endpoints.json"));
        _ledger = new(() => new CertificateLedger(Pki.Options.Layout.LedgerFile));
    }

    public DistributedApplication App { get; }

    public string StateDirectory { get; }

    public PkiResource Pki => App.Services.GetRequiredService<DistributedApplicationModel>().Resources.OfType<PkiResource>().Single();

    /// <summary>The PKI's ledger (opened once the pki resource created it), read to learn the serials a command issued.</summary>
    public CertificateLedger Ledger => _ledger.Value;

    /// <summary>The resources with an mTLS identity, in model order.</summary>
    public IReadOnlyList<string> Identities =>
        [.. App.Services.GetRequiredService<DistributedApplicationModel>().Resources.Where(r => r.Annotations.OfType<MtlsIdentityAnnotation>().Any()).Select(r => r.Name)];

    /// <summary>Starts the app; <paramref name="configure"/> changes the model last (a resource's environment, say).</summary>
    public static async Task<BenchApp> StartAsync(string state, AppSetup setup, CancellationToken cancellationToken,
        Action<IDistributedApplicationTestingBuilder>? configure = null)
    {
        string[] args = ["--state-dir", state, "--MtlsAspire:ProxiedEndpoints", setup.Proxied ? "true" : "false"];
        // The dashboard as the testing builder runs it when asked: dynamic loopback ports, plain HTTP, the services'
        // OTLP exporters pointed at it (OTEL_EXPORTER_OTLP_ENDPOINT), as `dotnet run --project MtlsAspire.AppHost` does.
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.MtlsAspire_AppHost>(
            new DistributedApplicationTestingBuilderOptions { EnableDashboard = setup.Dashboard }, args, cancellationToken);
        // This process hosts the AppHost, which forwards every resource's console line to its loggers: keep only warnings here.
        builder.Services.AddLogging(logging => logging.AddFilter((_, level) => level >= LogLevel.Warning));
        foreach (var project in builder.Resources.OfType<ProjectResource>())
        {
            var resource = builder.CreateResourceBuilder(project);
            if (!setup.Telemetry)
            {
                resource.WithEnvironment("OTEL_SDK_DISABLED", "true");
            }

            if (setup.QuietLogs)
            {
                // ASP.NET Core's per-request Information lines (about 20 per order) out of the services' consoles.
                resource.WithEnvironment("Logging__LogLevel__Microsoft.AspNetCore", "Warning");
            }
        }

        builder.CreateResourceBuilder<ProjectResource>("shopper").WithEnvironment("Shopper__Enabled", "false");
        builder.CreateResourceBuilder<ProjectResource>("intruder").WithEnvironment("Intruder__Interval", "00:01:00");
        configure?.Invoke(builder);
        var app = await builder.BuildAsync(cancellationToken);
        var bench = new BenchApp(app, state);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromMinutes(8)); // every service at once, then the shopper and the intruder: minutes on a loaded 2-core machine
            await app.StartAsync(timeout.Token);
            foreach (var resource in builder.Resources.Where(r => r is ProjectResource or PkiResource))
            {
                await app.ResourceNotifications.WaitForResourceHealthyAsync(resource.Name, timeout.Token);
            }
        }
        catch
        {
            await bench.DisposeAsync();
            throw;
        }

        return bench;
    }

    public Uri Https(string resource) => App.GetEndpoint(resource, "https");

    /// <summary>Runs a dashboard command; throws with its message when it fails.</summary>
    public async Task<string> CommandAsync(string resource, string command, CancellationToken cancellationToken)
    {
        var result = await App.ResourceCommands.ExecuteCommandAsync(resource, command, cancellationToken);
        return result.Success ? result.Message ?? string.Empty : throw new InvalidOperationException($"{resource} {command} failed: {result.Message}");
    }

    /// <summary>What every service reports on <c>GET /mtls/status</c> now.</summary>
    public Task<IReadOnlyList<FleetMember>> ObserveAsync(CancellationToken cancellationToken) => _fleet.ObserveAsync(cancellationToken);

    /// <summary>Waits (polling every 250 ms, at most 2 minutes) until every running service reports <paramref name="loaded"/>.</summary>
    public Task UntilEveryServiceAsync(string what, Func<CredentialStatus, bool> loaded, CancellationToken cancellationToken) =>
        FleetWait.UntilAsync(_fleet, what, loaded, TimeSpan.FromMinutes(2), TimeProvider.System, line => Console.WriteLine($"    {line}"), cancellationToken);

    /// <summary>The application processes of the project resources (DCP reports the process it started: the service itself, or the <c>dotnet run</c> above it when <c>MtlsAspire:LaunchFromBuildOutput=false</c>).</summary>
    public IReadOnlyList<int> ServiceProcesses() => [.. ServiceProcessesByResource().Values.SelectMany(pids => pids)];

    /// <summary>Per project resource, the process DCP reports and every process below it.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<int>> ServiceProcessesByResource()
    {
        var byResource = new Dictionary<string, IReadOnlyList<int>>(StringComparer.Ordinal);
        foreach (var project in App.Services.GetRequiredService<DistributedApplicationModel>().Resources.OfType<ProjectResource>())
        {
            if (App.ResourceNotifications.TryGetCurrentState(project.Name, out var state)
                && state.Snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value is { } value
                && int.TryParse(Convert.ToString(value, CultureInfo.InvariantCulture), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                byResource[project.Name] = [pid, .. Processes.Under(pid)];
            }
        }

        return byResource;
    }

    /// <summary>
    /// Stops the app (DCP stops its processes) and deletes the state directory, saying how long it took; returns every
    /// process the app had started, for <see cref="Processes.EnsureGoneAsync"/>.
    /// </summary>
    public async Task<IReadOnlyList<int>> StopAsync()
    {
        IReadOnlyList<int> started = [.. ServiceProcesses(), .. Processes.Started()];
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        await DisposeAsync();
        Console.WriteLine($"app stopped in {stopping.Elapsed.TotalSeconds:0.0} s; state directory deleted: {!Directory.Exists(StateDirectory)}");
        return started;
    }

    public async ValueTask DisposeAsync()
    {
        _fleet.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(StateDirectory))
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
    }
}
