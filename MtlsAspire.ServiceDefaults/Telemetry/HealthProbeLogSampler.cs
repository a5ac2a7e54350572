using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MtlsAspire.ServiceDefaults.Mtls;

namespace MtlsAspire.ServiceDefaults.Telemetry;

/// <summary>
/// Keeps health probes out of the logs: an orchestrator probes <c>/health</c> and <c>/alive</c> (and a rotator <c>/mtls/status</c>) on the management
/// endpoint every few seconds, and each probe would write ASP.NET Core's Information lines (request starting and
/// finished, endpoint executing and executed). Those are dropped; a probe's warnings and errors (a failing check)
/// and every other request's logs are kept.
/// </summary>
internal sealed class HealthProbeLogSampler(IHttpContextAccessor http) : LoggingSampler
{
    public override bool ShouldSample<TState>(in LogEntry<TState> logEntry) =>
        logEntry.LogLevel > LogLevel.Information || http.HttpContext is not { } context || !ManagementPaths.IsHealthProbe(context);
}
