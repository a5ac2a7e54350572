using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// Answers a plain-port request that <see cref="ManagementPortPolicy"/> left without an endpoint: 405 (Allow: GET, HEAD)
/// for a management endpoint asked with another method, 404 for anything else. No authentication challenge (the port has
/// none to offer): each refusal is counted in <c>mtls.management.refusals</c>, and logged in full only so far per window
/// (<c>Mtls:RefusalLogs</c>), so a flood from anyone who can reach the port is not a flood of Warnings.
/// </summary>
internal sealed class ManagementPortRefusal(MtlsCredentialStore store, MtlsTelemetry telemetry, ILoggerFactory loggers)
{
    private const string Explanation =
        "This plain-HTTP port serves only GET and HEAD of /health, /alive and /mtls/status; the API is on the mTLS port.";

    private readonly ILogger _logger = loggers.CreateLogger(MtlsServerExtensions.LoggerCategory);

    public Task RefuseAsync(HttpContext context)
    {
        var wrongMethod = ManagementPortPolicy.AskedWithWrongMethod(context);
        var status = wrongMethod ? StatusCodes.Status405MethodNotAllowed : StatusCodes.Status404NotFound;
        var method = context.Request.Method;
        telemetry.ManagementRefused(method, status);
        var self = store.Current.Identity.ServiceName ?? store.Current.Identity.ToString();
        var request = RefusalLogLimiter.RequestRefusal.RequestLine(context.Request);
        var peerAddress = $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}";
        if (telemetry.RefusalLogs.Admit(wrongMethod ? RequestRefusalKind.ManagementMethodNotAllowed : RequestRefusalKind.ManagementNotFound,
            new RefusalLogLimiter.RequestRefusal(self, "a plain-HTTP peer", request, peerAddress)))
        {
            MtlsLog.ManagementRefused(_logger, self, status, request, peerAddress);
        }

        context.Response.StatusCode = status;
        if (wrongMethod)
        {
            context.Response.Headers.Allow = "GET, HEAD";
        }

        return HttpMethods.IsHead(method) ? Task.CompletedTask : context.Response.WriteAsync(Explanation);
    }
}
