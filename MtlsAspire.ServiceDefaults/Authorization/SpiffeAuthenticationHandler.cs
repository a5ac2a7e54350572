using System.Diagnostics;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MtlsAspire.CertBootstrap.Certificates;
using MtlsAspire.CertBootstrap.Identity;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Authorization;

/// <summary>
/// Turns the client certificate that the TLS handshake already verified (chain, EKU, CRL, trust domain) into a
/// <see cref="ClaimsPrincipal"/> carrying its <see cref="SpiffeId"/>, and tags the server span with the peer identity
/// and TLS facts (OpenTelemetry's <c>tls.*</c> attributes). Not a substitute for Microsoft.AspNetCore.Authentication.Certificate,
/// which is not available here: validation happens in the handshake, this only reads its result.
/// </summary>
public sealed partial class SpiffeAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    MtlsCredentialStore store, MtlsTelemetry telemetry, TimeProvider time)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private const string FailureItem = "mtls.authentication.failure";
    private const string GenerationItem = "mtls.validated.generation";

    /// <inheritdoc />
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var certificate = Context.Connection.ClientCertificate;
        var tls = Context.Features.Get<ITlsHandshakeFeature>();
        var activity = Activity.Current;
        if (tls is not null)
        {
            activity?.SetTag("tls.protocol.name", "tls");
            activity?.SetTag("tls.protocol.version", tls.Protocol switch
            {
                System.Security.Authentication.SslProtocols.Tls13 => "1.3",
                System.Security.Authentication.SslProtocols.Tls12 => "1.2",
                var other => other.ToString(),
            });
        }

        if (certificate is null)
        {
            Context.Items[FailureItem] = tls is null ? "the request did not arrive over TLS" : "no client certificate was presented";
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        // The handshake validated the certificate against the credentials of its time. When they changed since (a new
        // CRL, a new bundle), the certificate is judged again: a peer revoked after connecting loses its connection.
        var current = store.Current;
        var connection = Context.Features.Get<IConnectionItemsFeature>()?.Items;
        if (connection is not null && (connection.TryGetValue(GenerationItem, out var seen) ? (long)seen! : 0) != current.Generation)
        {
            var peer = new PeerCertificate(certificate, [], Context.Connection.RemoteIpAddress + ":" + Context.Connection.RemotePort);
            var verdict = current.Validate(peer, PeerSide.Server, time.GetUtcNow());
            if (!verdict.Accepted)
            {
                MtlsServerExtensions.Report(Logger, telemetry, current, PeerSide.Server, peer, verdict);
                Context.Items[FailureItem] = verdict.Describe();
                Context.Abort();
                return Task.FromResult(AuthenticateResult.Fail(verdict.Describe()));
            }

            connection[GenerationItem] = current.Generation;
        }

        var identity = certificate.GetSpiffeId(out var problem);
        if (identity.IsEmpty || !identity.IsMemberOf(current.TrustDomain))
        {
            var reason = identity.IsEmpty ? $"the client certificate has {problem}" : $"{identity} is not in the trust domain '{current.TrustDomain}'";
            Context.Items[FailureItem] = reason;
            telemetry.AuthorizationDecision("unauthenticated", "unverified", current.Identity.ServiceName ?? current.Identity.ToString());
            LogInvalidIdentity(Logger, current.Identity.ToString(), Context.Connection.RemoteIpAddress + ":" + Context.Connection.RemotePort, reason,
                certificate.Subject, certificate.SerialNumber);
            return Task.FromResult(AuthenticateResult.Fail(reason));
        }

        activity?.SetTag("tls.client.subject", certificate.Subject);
        activity?.SetTag("tls.client.issuer", certificate.Issuer);
        activity?.SetTag("tls.client.not_after", certificate.NotAfter.ToUniversalTime().ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        activity?.SetTag("tls.client.serial", certificate.SerialNumber);
        activity?.SetTag("mtls.peer.spiffe_id", identity.ToString());

        var claims = new List<Claim>
        {
            new(MtlsAuthenticationDefaults.SpiffeIdClaim, identity.ToString()),
            new(ClaimTypes.NameIdentifier, identity.ToString()),
            new(ClaimTypes.Name, identity.ServiceName ?? identity.ToString()),
        };
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, MtlsAuthenticationDefaults.Scheme));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, MtlsAuthenticationDefaults.Scheme)));
    }

    [LoggerMessage(10, LogLevel.Warning, "mTLS server {Self} gives 401 to {PeerAddress}: {Reason} (subject '{Subject}', serial {Serial})")]
    private static partial void LogInvalidIdentity(ILogger logger, string self, string peerAddress, string reason, string subject, string serial);

    /// <summary>Why authentication produced no identity for this request, if it did not.</summary>
    internal static string? FailureOf(HttpContext context) => context.Items[FailureItem] as string;
}

/// <summary>Reads the caller's SPIFFE ID from an authenticated principal.</summary>
public static class SpiffePrincipalExtensions
{
    /// <summary>The caller's SPIFFE ID, or <c>default</c> when the principal has none.</summary>
    public static SpiffeId GetSpiffeId(this ClaimsPrincipal principal) =>
        SpiffeId.TryParse(principal.FindFirstValue(MtlsAuthenticationDefaults.SpiffeIdClaim), out var id, out _) ? id : default;
}
