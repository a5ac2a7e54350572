using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MtlsAspire.ServiceDefaults.Authorization;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>The mTLS server: Kestrel endpoints, peer validation, identity and caller authorization.</summary>
public static class MtlsServerExtensions
{
    /// <summary>The log category of the mTLS server's refusals.</summary>
    internal const string LoggerCategory = "MtlsAspire.Mtls.Server";

    /// <summary>
    /// Serves every <c>https</c> URL of <c>ASPNETCORE_URLS</c> (the <c>urls</c> setting) with mutual TLS: a client
    /// certificate is required, the full chain is sent, only ca.crt's roots are trusted, clientAuth is required of
    /// clients, crl.pem is checked in-process, and new credentials are used for new handshakes without a restart.
    /// Before TLS, new connections pass the handshake admission (<see cref="MtlsAdmissionOptions"/>): per-source bounds
    /// and penalties for sources whose handshakes fail.
    /// Every <c>http</c> URL is the plain management endpoint, which serves only GET and HEAD of the endpoints
    /// <c>MapDefaultEndpoints</c> marks with <see cref="ManagementEndpointMetadata"/> (<c>/health</c>, <c>/alive</c> and
    /// <c>/mtls/status</c>); the mTLS endpoint answers those as it answers any unknown path.
    /// Also registers the SPIFFE authentication scheme, the caller authorization policy and a fallback policy: an
    /// endpoint without a caller rule still requires a caller of our trust domain.
    /// </summary>
    public static WebApplicationBuilder AddMtlsServer(this WebApplicationBuilder builder)
    {
        builder.Services.AddMtlsCore();
        builder.Services.AddSingleton<HandshakeAdmission>();
        // Registered after Kestrel's own socket transport, so Kestrel binds with this one.
        builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IConnectionListenerFactory, AdmissionTransportFactory>();
        var urls = builder.Configuration["urls"] is { Length: > 0 } configured ? configured : "https://127.0.0.1:0;http://127.0.0.1:0";
        // Kestrel listens where we say below; clearing the setting keeps it from also binding (and warning about) the raw URLs.
        builder.WebHost.UseSetting(WebHostDefaults.ServerUrlsKey, string.Empty);
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            var options = kestrel.ApplicationServices.GetRequiredService<IOptions<MtlsOptions>>().Value;
            var handshake = new ServerHandshakeOptions(kestrel.ApplicationServices.GetRequiredService<MtlsCredentialStore>(),
                options,
                kestrel.ApplicationServices.GetRequiredService<MtlsTelemetry>(),
                kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(LoggerCategory));
            var admission = kestrel.ApplicationServices.GetRequiredService<HandshakeAdmission>();
            foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var (https, endpoint) = ParseUrl(url);
                if (https)
                {
                    admission.Guard(endpoint);
                }

                kestrel.Listen(endpoint, listen =>
                {
                    listen.Protocols = https ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http1;
                    if (https)
                    {
                        listen.UseHttpsBehindAdmission(admission, tls => tls.UseHttps(new TlsHandshakeCallbackOptions
                        {
                            OnConnection = handshake.OnConnection,
                            HandshakeTimeout = options.HandshakeTimeout,
                        }));
                    }
                });
            }
        });

        // The handshake is the gate (chain, CRLs, EKU, dates) and builds the connection's principal once (ConnectionTrust);
        // the Mtls scheme hands it to every request of the connection, and answers challenges with the 401.
        builder.Services.AddAuthentication(options =>
        {
            options.AddScheme<MtlsAuthenticationHandler>(MtlsAuthenticationDefaults.Scheme, displayName: null);
            options.DefaultScheme = MtlsAuthenticationDefaults.Scheme;
        });
        builder.Services.AddTransient<MtlsAuthenticationHandler>();
        builder.Services.AddSingleton<MtlsAuthenticationHandler.Services>();
        builder.Services.AddSingleton<ConnectionJudge>();
        builder.Services.AddSingleton<CallerRules>();
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(MtlsAuthenticationDefaults.CallerPolicy, policy => policy
                .AddAuthenticationSchemes(MtlsAuthenticationDefaults.Scheme)
                .RequireAuthenticatedUser()
                .AddRequirements(new CallerRequirement()))
            // Secure by default: an endpoint that names no caller rule still needs an identity of our trust domain
            // (authentication admits no other). The health endpoints opt out (MapDefaultEndpoints), on the management port only.
            .SetFallbackPolicy(new AuthorizationPolicyBuilder(MtlsAuthenticationDefaults.Scheme)
                .RequireAuthenticatedUser()
                .RequireClaim(MtlsAuthenticationDefaults.SpiffeIdClaim)
                .Build());
        builder.Services.AddHostedService<AuditModeWarning>();
        builder.Services.AddSingleton<IAuthorizationHandler, CallerAuthorizationHandler>();
        builder.Services.AddSingleton<IAuthorizationMiddlewareResultHandler, MtlsAuthorizationResultHandler>();
        builder.Services.AddProblemDetails();
        builder.Services.AddTransient<IStartupFilter, PeerConnectionStartupFilter>();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<MatcherPolicy, ManagementPortPolicy>());
        builder.Services.AddSingleton<ManagementPortRefusal>();
        return builder;
    }

    internal static X509Certificate2[] SentIntermediates(X509Chain? chain) =>
        chain is null ? [] : [.. chain.ChainPolicy.ExtraStore];

    /// <summary>
    /// One refused handshake, on either side: the <c>mtls.handshake.failures</c> count, and a Warning log and a
    /// <c>mtls.handshake</c> span (a refused handshake has no HTTP request, so no other span) carrying the same attributes,
    /// unless a flood of the same refusal is under way (<see cref="MtlsOptions.RefusalLogs"/>: then a summary follows).
    /// </summary>
    internal static void Report(ILogger logger, MtlsTelemetry telemetry, MtlsCredentials self, PeerSide side, PeerCertificate peer, PeerVerdict verdict)
    {
        var reason = verdict.Reason!.Value;
        // The SPIFFE ID the certificate claims; verified only as far as the verdict got before refusing.
        var claimed = verdict.Identity.IsEmpty ? "none" : verdict.Identity.ToString();
        var sideName = side == PeerSide.Server ? "server" : "client";
        // The peer chose these (a stranger's subject can be kilobytes): a log line carries at most PeerTextLength of each.
        var subject = PeerText.Cut(peer.Certificate?.Subject ?? "-", PeerTextLength);
        var serial = PeerText.Cut(peer.Certificate?.SerialNumber ?? "-", PeerTextLength);
        var detail = PeerText.Cut(verdict.Detail ?? string.Empty, DetailLength); // it may quote the subject
        // The peer tag names a service only when the chain was trusted (an impersonation); otherwise anyone could mint tag values.
        telemetry.HandshakeRejected(side, reason,
            reason == RejectionReason.ServerIdentityMismatch ? verdict.Identity.ServiceName ?? claimed : "unverified");
        var selfName = self.Identity.ServiceName ?? self.Identity.ToString();
        var peerRole = side == PeerSide.Server ? "client" : "server";
        // A flood of refusals is counted above in full, but logged and traced only so far (Mtls:RefusalLogs), then summed up.
        if (!telemetry.RefusalLogs.Admit(side, reason, new RefusalLogLimiter.Refusal(selfName, peerRole, peer.PeerAddress, subject, claimed, serial)))
        {
            return;
        }

        MtlsLog.HandshakeRejected(logger, sideName, selfName, peerRole, peer.PeerAddress, reason.ToTagValue(), detail, subject, claimed, serial);
        MtlsTelemetry.TraceRefusedHandshake(sideName, reason.ToTagValue(), detail, peer.PeerAddress, subject, claimed, serial);
    }

    /// <summary>At most this much of a text a peer chose (its certificate's subject or serial) goes into a refusal's log line.</summary>
    internal const int PeerTextLength = 256;

    /// <summary>At most this much of a refusal's reason goes into its log line (the reason may quote the peer's subject).</summary>
    internal const int DetailLength = 1024;

    private static (bool Https, IPEndPoint Endpoint) ParseUrl(string url)
    {
        if (!Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            throw new InvalidOperationException($"'{url}' in ASPNETCORE_URLS is not an http:// or https:// URL.");
        }

        var address = uri.Host switch
        {
            "localhost" => IPAddress.Loopback,
            var host when IPAddress.TryParse(host.Trim('[', ']'), out var parsed) => parsed,
            var host => throw new InvalidOperationException($"'{url}' in ASPNETCORE_URLS names host '{host}': use an IP address, localhost or *."),
        };
        return (uri.Scheme == Uri.UriSchemeHttps, new IPEndPoint(address, uri.Port));
    }

    /// <summary>
    /// Puts <see cref="PeerConnectionMiddleware"/> first, before routing and authentication. Which port serves which
    /// endpoint is decided by routing itself (<see cref="ManagementPortPolicy"/>), after it matched the endpoint.
    /// </summary>
    private sealed class PeerConnectionStartupFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.UseMiddleware<PeerConnectionMiddleware>();
            next(app);
        };
    }
}
