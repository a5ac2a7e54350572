using System.Diagnostics;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MtlsAspire.Hosting;

namespace MtlsAspire.AppHost;

/// <summary>
/// Logs one line once every resource of the app (the pki and every project) is healthy, with the seconds since the
/// AppHost's process started: what the dashboard shows as all green, as a line that a script (bench/coldstart.sh) can wait
/// for. Nothing is logged when a resource never gets there: its own state and console log say why.
/// </summary>
internal sealed partial class ReadyReport(DistributedApplicationModel model, ResourceNotificationService notifications, ILogger<ReadyReport> logger)
    : BackgroundService
{
    /// <summary>The start of the line, for scripts.</summary>
    public const string Marker = "Every resource is healthy";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The app's own resources: Aspire adds hidden helpers (e.g. a "-rebuilder" per project) that never start.
        var resources = model.Resources.Where(r => r is ProjectResource or PkiResource).Select(r => r.Name).ToList();
        try
        {
            await Task.WhenAll(resources.Select(name => notifications.WaitForResourceHealthyAsync(name, stoppingToken))).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        var seconds = (DateTime.Now - Process.GetCurrentProcess().StartTime).TotalSeconds;
        LogReady(logger, resources.Count, seconds);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = Marker + " ({Count} resources), {Seconds:0.0} s after the AppHost started.")]
    private static partial void LogReady(ILogger logger, int count, double seconds);
}
