using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Certificate;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Authorization;

/// <summary>
/// The certificate authentication events. A client certificate whose chain the package verified becomes a principal
/// carrying its <see cref="MtlsAuthenticationDefaults.SpiffeIdClaim"/>; one without a SPIFFE ID of our trust domain
/// fails. A challenge answers 401 with problem details saying why (the package itself would answer 403), counts the
/// request as <c>unauthenticated</c> and logs a Warning (rate-limited by <c>Mtls:RefusalLogs</c>).
/// </summary>
internal sealed class MtlsCertificateEvents(MtlsCredentialStore store, MtlsTelemetry telemetry, ILogger<MtlsCertificateEvents> logger)
    : CertificateAuthenticationEvents
{
    public override Task CertificateValidated(CertificateValidatedContext context)
    {
        var trustDomain = store.Current.TrustDomain;
        var identity = context.ClientCertificate.GetSpiffeId(out var problem);
        if (identity.IsEmpty)
        {
            context.Fail($"the client certificate has {problem}");
            return Task.CompletedTask;
        }

        if (!identity.IsMemberOf(trustDomain))
        {
            context.Fail($"{identity} is not in the trust domain '{trustDomain}'");
            return Task.CompletedTask;
        }

        context.Principal = new ClaimsPrincipal(new ClaimsIdentity(
            [
                new Claim(MtlsAuthenticationDefaults.SpiffeIdClaim, identity.ToString()),
                new Claim(ClaimTypes.NameIdentifier, identity.ToString()),
                new Claim(ClaimTypes.Name, identity.ServiceName ?? identity.ToString()),
            ],
            context.Scheme.Name));
        context.Success();
        return Task.CompletedTask;
    }

    public override async Task Challenge(CertificateChallengeContext context)
    {
        var http = context.HttpContext;
        // The handler's result for this request (cached by the handler, and across requests by the certificate cache).
        var result = await http.AuthenticateAsync(context.Scheme.Name).ConfigureAwait(false);
        var certificate = http.Connection.ClientCertificate;
        var why = result.Failure?.Message
            ?? (!http.Request.IsHttps ? "the request did not arrive over TLS" : "no client certificate was presented");
        var self = store.Current.Identity;
        telemetry.AuthorizationDecision("unauthenticated", "unverified", self.ServiceName ?? self.ToString());
        var claimed = certificate?.GetSpiffeId(out _) is { IsEmpty: false } id ? id.ToString() : "none";
        var selfName = self.ServiceName ?? self.ToString();
        var peerAddress = $"{http.Connection.RemoteIpAddress}:{http.Connection.RemotePort}";
        // Counted above every time; logged in full only so far per window (Mtls:RefusalLogs), then summed up.
        if (telemetry.RefusalLogs.Admit(RequestRefusalKind.Unauthenticated,
            new RefusalLogLimiter.RequestRefusal(selfName, $"{claimed} (unverified)", RefusalLogLimiter.RequestRefusal.RequestLine(http.Request), peerAddress)))
        {
            MtlsLog.Unauthenticated(logger, "server", selfName, peerAddress,
                (certificate is null ? RejectionReason.NoCertificate : RejectionReason.InvalidIdentity).ToTagValue(), why,
                certificate?.Subject ?? "-", claimed, certificate?.SerialNumber ?? "-");
        }

        context.HandleResponse();
        await Results.Problem(
            title: "No valid client identity",
            detail: $"This endpoint needs a client certificate with a SPIFFE ID from this trust domain: {why}.",
            statusCode: StatusCodes.Status401Unauthorized)
            .ExecuteAsync(http).ConfigureAwait(false);
    }
}
