using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// Whether a request's connection is still trusted: the handshake's verdict (<see cref="ConnectionTrust"/>) while it
/// holds, one comparison of generation and clock; once the credentials changed (a new CRL, a new bundle) or the
/// verdict's valid-until passed (the peer's chain expired, a CRL went stale), the certificate is judged again, and a
/// peer no longer trusted loses its connection, with the refusal reported as a refused handshake is.
/// </summary>
internal sealed class ConnectionJudge(MtlsCredentialStore store, MtlsTelemetry telemetry, TimeProvider time, ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger(MtlsServerExtensions.LoggerCategory);

    /// <summary>
    /// The verdict on the request's client certificate, judged again when it no longer holds; null without a client
    /// certificate, or with <paramref name="refused"/> true when the peer is refused now (its connection is being closed).
    /// A connection the handshake did not judge (no <see cref="ConnectionTrust"/>) has its certificate judged for this request alone.
    /// </summary>
    public ConnectionTrust? Judge(HttpContext context, out bool refused)
    {
        refused = false;
        var trust = context.Features.Get<ConnectionTrust>();
        var current = store.Current;
        var now = time.GetUtcNow();
        if (trust is not null && trust.IsCurrent(current.Generation, now.UtcTicks))
        {
            return trust;
        }

        if (trust is not null && trust.IsRefused)
        {
            refused = true;
            return null;
        }

        var certificate = trust?.Certificate ?? context.Connection.ClientCertificate;
        if (certificate is null)
        {
            return null;
        }

        var peer = new PeerCertificate(certificate, [], $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}");
        var verdict = current.Validate(peer, PeerSide.Server, now);
        if (!verdict.Accepted)
        {
            // The first stream to see it reports it and closes the connection; the others only stop.
            if (trust?.Refuse(verdict.Describe()) ?? true)
            {
                MtlsServerExtensions.Report(_logger, telemetry, current, PeerSide.Server, peer, verdict);
            }

            refused = true;
            return null;
        }

        if (trust is null)
        {
            trust = new ConnectionTrust(null, certificate, verdict.Identity, current.TrustDomain, current.Generation, verdict.ValidUntil);
            context.Features.Set(trust);
            return trust;
        }

        trust.Accepted(current.Generation, verdict.ValidUntil);
        return trust;
    }
}
