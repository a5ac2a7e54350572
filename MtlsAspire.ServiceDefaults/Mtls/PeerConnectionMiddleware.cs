using System.Diagnostics;
using System.Globalization;
using System.Security.Authentication;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using MtlsAspire.ServiceDefaults.Authorization;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// Runs on every request of the mTLS endpoint, before authentication. The handshake validated the client certificate
/// against the credentials of its time; when they changed since (a new CRL, a new bundle), the certificate is judged
/// again and a peer no longer trusted (say, revoked after connecting) loses its connection. Tags the server span with
/// the TLS facts (OpenTelemetry's <c>tls.*</c> attributes) and, once authenticated, the caller's SPIFFE ID.
/// </summary>
internal sealed class PeerConnectionMiddleware(RequestDelegate next, MtlsCredentialStore store, MtlsTelemetry telemetry, TimeProvider time,
    ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger(MtlsServerExtensions.LoggerCategory);

    public async Task InvokeAsync(HttpContext context)
    {
        var tls = context.Features.Get<ITlsHandshakeFeature>();
        if (tls is null)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var activity = Activity.Current;
        activity?.SetTag("tls.protocol.name", "tls");
        activity?.SetTag("tls.protocol.version", tls.Protocol switch
        {
            SslProtocols.Tls13 => "1.3",
            SslProtocols.Tls12 => "1.2",
            var other => other.ToString(),
        });

        if (context.Connection.ClientCertificate is { } certificate)
        {
            if (!StillTrusted(context, certificate))
            {
                context.Abort();
                return;
            }

            activity?.SetTag("tls.client.subject", certificate.Subject);
            activity?.SetTag("tls.client.issuer", certificate.Issuer);
            activity?.SetTag("tls.client.not_after", certificate.NotAfter.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
            activity?.SetTag("tls.client.serial", certificate.SerialNumber);
        }

        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            // Set by authentication: only a verified identity of our trust domain becomes this tag.
            if (context.User.GetSpiffeId() is { IsEmpty: false } caller)
            {
                activity?.SetTag("mtls.peer.spiffe_id", caller.ToString());
            }
        }
    }

    private bool StillTrusted(HttpContext context, System.Security.Cryptography.X509Certificates.X509Certificate2 certificate)
    {
        var current = store.Current;
        // Only read here: many HTTP/2 streams of one connection run this at once (ConnectionTrust is safe for that).
        var trust = context.Features.Get<IConnectionItemsFeature>()?.Items is { } items
            && items.TryGetValue(ConnectionTrust.Item, out var item) ? item as ConnectionTrust : null;
        if (trust is not null && trust.IsRefused)
        {
            return false;
        }

        if (trust is not null && trust.Generation >= current.Generation)
        {
            return true;
        }

        var peer = new PeerCertificate(certificate, [], $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}");
        var verdict = current.Validate(peer, PeerSide.Server, time.GetUtcNow());
        if (!verdict.Accepted)
        {
            // The first stream to see it reports it and closes the connection; the others only stop.
            if (trust?.Refuse(verdict.Describe()) ?? true)
            {
                MtlsServerExtensions.Report(_logger, telemetry, current, PeerSide.Server, peer, verdict);
            }

            return false;
        }

        trust?.Accepted(current.Generation);
        return true;
    }
}
