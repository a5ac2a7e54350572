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

namespace MtlsAspire.ServiceDefaults.Authorization;

/// <summary>
/// Turns the client certificate that the TLS handshake already verified (chain, EKU, CRL, trust domain) into a
/// <see cref="ClaimsPrincipal"/> carrying its <see cref="SpiffeId"/>, and tags the server span with the peer identity
/// and TLS facts (OpenTelemetry's <c>tls.*</c> attributes). Not a substitute for Microsoft.AspNetCore.Authentication.Certificate,
/// which is not available here: validation happens in the handshake, this only reads its result.
/// </summary>
public sealed class SpiffeAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    MtlsCredentialStore store)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private const string FailureItem = "mtls.authentication.failure";

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

        var identity = certificate.GetSpiffeId(out var problem);
        if (identity.IsEmpty || !identity.IsMemberOf(store.Current.TrustDomain))
        {
            var reason = identity.IsEmpty ? $"the client certificate has {problem}" : $"{identity} is not in the trust domain '{store.Current.TrustDomain}'";
            Context.Items[FailureItem] = reason;
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
