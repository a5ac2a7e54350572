using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Authorization;

/// <summary>
/// The <c>Mtls</c> authentication scheme. The handshake judged the client certificate and built the connection's
/// principal once (<see cref="ConnectionTrust"/>); authenticating a request returns it, with no chain, hash or claim
/// work per request. A certificate without a SPIFFE ID of our trust domain fails. A challenge answers 401 with problem
/// details saying why, counts the request as <c>unauthenticated</c> and logs a Warning (rate-limited by <c>Mtls:RefusalLogs</c>).
/// </summary>
internal sealed class MtlsAuthenticationHandler(MtlsAuthenticationHandler.Services services) : IAuthenticationHandler
{
    /// <summary>The log category of the 401 Warning, unchanged since the certificate authentication package wrote it: log queries keep working.</summary>
    internal const string LoggerCategory = "MtlsAspire.ServiceDefaults.Authorization.MtlsCertificateEvents";

    private HttpContext _context = null!;
    private string _scheme = MtlsAuthenticationDefaults.Scheme;

    public Task InitializeAsync(AuthenticationScheme scheme, HttpContext context)
    {
        _scheme = scheme.Name;
        _context = context;
        return Task.CompletedTask;
    }

    public Task<AuthenticateResult> AuthenticateAsync()
    {
        // Found on the connection (the peer middleware has checked that it still holds), else judged for this request.
        var trust = _context.Features.Get<ConnectionTrust>() ?? services.Judge.Judge(_context, out _);
        return Task.FromResult(trust switch
        {
            { Principal: { } principal } => AuthenticateResult.Success(new AuthenticationTicket(principal, _scheme)),
            { AuthenticationFailure: { } failure } => AuthenticateResult.Fail(failure),
            _ => AuthenticateResult.NoResult(),
        });
    }

    public async Task ChallengeAsync(AuthenticationProperties? properties)
    {
        var http = _context;
        var trust = http.Features.Get<ConnectionTrust>();
        var certificate = trust?.Certificate ?? http.Connection.ClientCertificate;
        var why = trust?.AuthenticationFailure
            ?? (!http.Request.IsHttps ? "the request did not arrive over TLS"
                : certificate is null ? "no client certificate was presented"
                : "the client certificate was refused");
        var self = services.Store.Current.Identity;
        var selfName = self.ServiceName ?? self.ToString();
        services.Telemetry.AuthorizationDecision("unauthenticated", "unverified", selfName);
        var claimed = trust?.ClaimedText ?? "none";
        var peerAddress = $"{http.Connection.RemoteIpAddress}:{http.Connection.RemotePort}";
        // Counted above every time; logged in full only so far per window (Mtls:RefusalLogs), then summed up.
        if (services.Telemetry.RefusalLogs.Admit(RequestRefusalKind.Unauthenticated,
            new RefusalLogLimiter.RequestRefusal(selfName, $"{claimed} (unverified)", RefusalLogLimiter.RequestRefusal.RequestLine(http.Request), peerAddress)))
        {
            MtlsLog.Unauthenticated(services.Logger, "server", selfName, peerAddress,
                (certificate is null ? RejectionReason.NoCertificate : RejectionReason.InvalidIdentity).ToTagValue(), why,
                certificate?.Subject ?? "-", claimed, certificate?.SerialNumber ?? "-");
        }

        await Results.Problem(
            title: "No valid client identity",
            detail: $"This endpoint needs a client certificate with a SPIFFE ID from this trust domain: {why}.",
            statusCode: StatusCodes.Status401Unauthorized)
            .ExecuteAsync(http).ConfigureAwait(false);
    }

    public Task ForbidAsync(AuthenticationProperties? properties)
    {
        _context.Response.StatusCode = StatusCodes.Status403Forbidden;
        return Task.CompletedTask;
    }

    /// <summary>What every request's handler shares (a handler is made per request, as the authentication service asks).</summary>
    internal sealed class Services(ConnectionJudge judge, MtlsCredentialStore store, MtlsTelemetry telemetry, ILoggerFactory loggers)
    {
        public ConnectionJudge Judge { get; } = judge;

        public MtlsCredentialStore Store { get; } = store;

        public MtlsTelemetry Telemetry { get; } = telemetry;

        public ILogger Logger { get; } = loggers.CreateLogger(LoggerCategory);
    }
}
