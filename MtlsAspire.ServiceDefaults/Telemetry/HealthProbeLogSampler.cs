using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.ServiceDefaults.Telemetry;

/// <summary>
/// Keeps health probes out of the logs: an orchestrator probes <c>/health</c> and <c>/alive</c> (and a rotator
/// <c>/mtls/status</c>) on the management endpoint every few seconds, and each probe would write ASP.NET Core's
/// Information lines (request starting and finished, endpoint executing and executed, the status JSON written). Those
/// are dropped; a probe's warnings and errors (a failing check) and every other request's logs are kept.
/// </summary>
/// <remarks>
/// It judges a line by what the line itself carries, not by the request it belongs to: holding the request for the
/// sampler (<c>IHttpContextAccessor</c>) would cost an <c>AsyncLocal</c> write on every request of the service. Hosting's
/// request lines carry the scheme and path (plain <c>http</c> is the management endpoint: the mTLS one is <c>https</c>),
/// routing's carry the endpoint (a management one has <see cref="ManagementEndpointMetadata"/>), and the status JSON's
/// line names <see cref="CredentialStatus"/>. Only ASP.NET Core's Information lines and below are looked at, and
/// services log those categories at Warning unless asked.
/// </remarks>
internal sealed class HealthProbeLogSampler : LoggingSampler
{
    private const string AspNetCore = "Microsoft.AspNetCore.";

    public override bool ShouldSample<TState>(in LogEntry<TState> logEntry) =>
        logEntry.LogLevel > LogLevel.Information
        || !logEntry.Category.StartsWith(AspNetCore, StringComparison.Ordinal)
        || logEntry.State is not IEnumerable<KeyValuePair<string, object?>> fields
        || !IsProbe(fields);

    // The state is the logging library's wrapper of the line's fields: enumerated, as a logging provider reads it.
    private static bool IsProbe(IEnumerable<KeyValuePair<string, object?>> fields)
    {
        string? scheme = null;
        string? path = null;
        foreach (var (key, value) in fields)
        {
            switch (key)
            {
                case "EndpointName" when value is Endpoint endpoint && endpoint.Metadata.GetMetadata<ManagementEndpointMetadata>() is not null:
                case "Type" when value is nameof(CredentialStatus) or Type { Name: nameof(CredentialStatus) }:
                    return true;
                case "Scheme":
                    scheme = value as string;
                    break;
                case "Path":
                    path = value as string;
                    break;
            }
        }

        return scheme == "http" && path is not null && ManagementPaths.IsManagement(path);
    }
}
