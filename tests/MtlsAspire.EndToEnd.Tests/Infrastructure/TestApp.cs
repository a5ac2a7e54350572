using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using MtlsAspire.Hosting;

namespace MtlsAspire.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The real AppHost (its Program runs in the test process) started with Aspire.Hosting.Testing on a temporary state
/// directory. Disposing it stops every resource (DCP stops the processes it started) and deletes the directory.
/// </summary>
public sealed class TestApp : IAsyncDisposable
{
    private TestApp(DistributedApplication app, string state)
    {
        App = app;
        StateDirectory = state;
    }

    private readonly CancellationTokenSource _stopping = new();
    private Task _starting = Task.CompletedTask;

    public DistributedApplication App { get; }

    public string StateDirectory { get; }

    public PkiResource Pki => App.Services.GetRequiredService<DistributedApplicationModel>().Resources.OfType<PkiResource>().Single();

    public static string NewStateDirectory() => Path.Combine(Path.GetTempPath(), "mtls-apphost-tests", Guid.NewGuid().ToString("N")[..12]);

    /// <summary>
    /// Builds and starts the app. <paramref name="configure"/> may change the model before it is built (the shopper places
    /// no orders unless <paramref name="shopping"/>: the tests are the traffic). With <paramref name="waitHealthy"/>,
    /// returns once every resource is healthy.
    /// </summary>
    public static async Task<TestApp> StartAsync(string? state = null, string[]? args = null, Action<IDistributedApplicationTestingBuilder>? configure = null,
        bool waitHealthy = true, bool shopping = false)
    {
        state ??= NewStateDirectory();
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.MtlsAspire_AppHost>(["--state-dir", state, .. args ?? []]);
        foreach (var project in builder.Resources.OfType<ProjectResource>())
        {
            // Console logs are what the tests read; no OTLP export makes stopping fast.
            builder.CreateResourceBuilder(project).WithEnvironment("OTEL_SDK_DISABLED", "true");
        }

        if (!shopping && builder.Resources.Any(r => r.Name == "shopper"))
        {
            builder.CreateResourceBuilder<ProjectResource>("shopper").WithEnvironment("Shopper__Enabled", "false");
        }

        configure?.Invoke(builder);
        var app = await builder.BuildAsync();
        var test = new TestApp(app, state);
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            if (!waitHealthy)
            {
                // A start that cannot finish (a dependency crashed, so its dependents wait for ever) runs until disposal.
                test._starting = app.StartAsync(test._stopping.Token);
                return test;
            }

            await app.StartAsync(timeout.Token);
            // The app's own resources (Aspire adds hidden helpers, e.g. a "-rebuilder" per project, that never start).
            foreach (var resource in builder.Resources.Where(r => r is ProjectResource or PkiResource))
            {
                await app.ResourceNotifications.WaitForResourceHealthyAsync(resource.Name, timeout.Token);
            }
        }
        catch
        {
            await test.DisposeAsync();
            throw;
        }

        return test;
    }

    /// <summary>The process id of a running project resource's application (not the <c>dotnet run</c> that DCP starts it with).</summary>
    public int ProcessId(string resource)
    {
        Assert.True(App.ResourceNotifications.TryGetCurrentState(resource, out var state), $"no state for {resource}");
        var pid = state!.Snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value;
        return ProcessTree.ApplicationOf(Convert.ToInt32(pid, CultureInfo.InvariantCulture));
    }

    /// <summary>The value of a property on a resource's dashboard snapshot.</summary>
    public string? Property(string resource, string name) =>
        App.ResourceNotifications.TryGetCurrentState(resource, out var state)
            ? state!.Snapshot.Properties.FirstOrDefault(p => p.Name == name)?.Value?.ToString()
            : null;

    /// <summary>Waits until a line of <paramref name="resource"/>'s console log satisfies <paramref name="match"/>; returns it.</summary>
    public async Task<string> WaitForLogAsync(string resource, Func<string, bool> match, TimeSpan? timeout = null)
    {
        var loggers = App.Services.GetRequiredService<ResourceLoggerService>();
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(90));
        var seen = new StringBuilder();
        try
        {
            // By the model's resource: DCP's instances are named with a suffix (inventory-abc123).
            await foreach (var batch in loggers.WatchAsync(App.Services.GetModelResource(resource)).WithCancellation(cancel.Token))
            {
                foreach (var line in batch)
                {
                    seen.AppendLine(line.Content);
                    if (match(line.Content))
                    {
                        return line.Content;
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        Assert.Fail($"No matching line in {resource}'s console log within the timeout. Its log:\n{seen}");
        return string.Empty;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        try
        {
            await _starting;
        }
        catch (OperationCanceledException)
        {
        }

        _stopping.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(StateDirectory))
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
    }
}
