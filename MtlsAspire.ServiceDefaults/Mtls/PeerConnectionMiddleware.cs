using System.Diagnostics;
using System.Security.Authentication;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// Runs on every request of the mTLS endpoint, before authentication: refuses a peer whose connection's verdict no
/// longer holds and is not renewed (<see cref="ConnectionJudge"/>: revoked, expired or judged by a stale CRL while
/// connected), and, only when the server span records, tags it with the TLS facts (OpenTelemetry's <c>tls.*</c>
/// attributes) and the verified caller's SPIFFE ID, formatted once per connection.
/// </summary>
internal sealed class PeerConnectionMiddleware(RequestDelegate next, ConnectionJudge judge)
{
    public Task InvokeAsync(HttpContext context)
    {
        var tls = context.Features.Get<ITlsHandshakeFeature>();
        if (tls is null)
        {
            return next(context);
        }

        var trust = judge.Judge(context, out var refused);
        if (refused)
        {
            context.Abort();
            return Task.CompletedTask;
        }

        if (Activity.Current is { IsAllDataRequested: true } activity)
        {
            Tag(activity, tls, trust);
        }

        return next(context);
    }

    private static void Tag(Activity activity, ITlsHandshakeFeature tls, ConnectionTrust? trust)
    {
        activity.SetTag("tls.protocol.name", "tls");
        activity.SetTag("tls.protocol.version", tls.Protocol switch
        {
            SslProtocols.Tls13 => "1.3",
            SslProtocols.Tls12 => "1.2",
            var other => other.ToString(),
        });
        if (trust is null)
        {
            return;
        }

        var tags = trust.SpanTags;
        activity.SetTag("tls.client.subject", tags.Subject);
        activity.SetTag("tls.client.issuer", tags.Issuer);
        activity.SetTag("tls.client.not_after", tags.NotAfter);
        activity.SetTag("tls.client.serial", tags.Serial);
        if (trust.Principal is not null)
        {
            // Only a verified identity of our trust domain (the one authentication admits) becomes this tag.
            activity.SetTag("mtls.peer.spiffe_id", trust.ClaimedText);
        }
    }
}
