using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Authentication.Certificate;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
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
    /// Every <c>http</c> URL is the plain management endpoint, which serves only <c>/health</c>, <c>/alive</c> and <c>/mtls/status</c>.
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

        // The handshake is the gate (chain, CRLs, EKU, dates); the package turns the connection's certificate into the
        // principal, with trust from the current credentials (CertificateTrustOptions) and a cache of its verdicts.
        builder.Services.AddAuthentication(MtlsAuthenticationDefaults.Scheme)
            .AddCertificate(MtlsAuthenticationDefaults.Scheme, options =>
            {
                options.AllowedCertificateTypes = CertificateTypes.Chained;
                options.ChainTrustValidationMode = X509ChainTrustMode.CustomRootTrust;
                options.RevocationMode = X509RevocationMode.NoCheck; // CRLs are checked in the handshake, against crl.pem
                options.ValidateCertificateUse = true;
                options.ValidateValidityPeriod = true;
                options.EventsType = typeof(MtlsCertificateEvents);
            })
            .AddCertificateCache();
        builder.Services.AddSingleton<MtlsCertificateEvents>();
        builder.Services.AddSingleton<CertificateTrustOptions>();
        builder.Services.AddSingleton<IConfigureOptions<CertificateAuthenticationOptions>>(services => services.GetRequiredService<CertificateTrustOptions>());
        builder.Services.AddSingleton<IOptionsChangeTokenSource<CertificateAuthenticationOptions>>(services => services.GetRequiredService<CertificateTrustOptions>());
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
        builder.Services.AddTransient<IStartupFilter, ManagementEndpointFilter>();
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
        var subject = peer.Certificate?.Subject ?? "-";
        var serial = peer.Certificate?.SerialNumber ?? "-";
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

        MtlsLog.HandshakeRejected(logger, sideName, selfName, peerRole, peer.PeerAddress, reason.ToTagValue(), verdict.Detail ?? string.Empty, subject, claimed, serial);
        MtlsTelemetry.TraceRefusedHandshake(sideName, reason.ToTagValue(), verdict.Detail ?? string.Empty, peer.PeerAddress, subject, claimed, serial);
    }

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
    /// Keeps the two kinds of endpoint apart: the plain-HTTP management endpoint answers only the health paths,
    /// and the mTLS endpoint never answers them. Then, before authentication, <see cref="PeerConnectionMiddleware"/>.
    /// </summary>
    private sealed class ManagementEndpointFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (context, nextMiddleware) =>
            {
                var isTls = context.Features.Get<ITlsHandshakeFeature>() is not null;
                var isManagement = ManagementPaths.IsManagement(context.Request.Path);
                if (isTls == isManagement)
                {
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    await context.Response.WriteAsync(isTls
                        ? "Health and status endpoints are served on the plain management port, not on the mTLS port."
                        : "This plain-HTTP port serves only /health, /alive and /mtls/status; the API is on the mTLS port.").ConfigureAwait(false);
                    return;
                }

                await nextMiddleware(context).ConfigureAwait(false);
            });
            app.UseMiddleware<PeerConnectionMiddleware>();
            next(app);
        };
    }
}

/// <summary>The management paths: health and credential status, served only on the plain management endpoint.</summary>
public static class ManagementPaths
{
    /// <summary>The credentials in use (<see cref="MtlsAspire.Verification.Status.CredentialStatus"/>), for whoever rotates them.</summary>
    public const string Status = MtlsAspire.Verification.Status.CredentialStatus.Path;

    /// <summary>Readiness: every health check.</summary>
    public const string Health = "/health";

    /// <summary>Liveness: only checks tagged "live".</summary>
    public const string Alive = "/alive";

    /// <summary>True for <see cref="Health"/> and <see cref="Alive"/>.</summary>
    public static bool IsHealth(PathString path) =>
        path.Equals(Health, StringComparison.OrdinalIgnoreCase) || path.Equals(Alive, StringComparison.OrdinalIgnoreCase);

    /// <summary>True for every management path: <see cref="Health"/>, <see cref="Alive"/> and <see cref="Status"/>.</summary>
    public static bool IsManagement(PathString path) => IsHealth(path) || path.Equals(Status, StringComparison.OrdinalIgnoreCase);

    /// <summary>True for a request to a management path on the plain management endpoint (not over TLS): a probe, kept out of logs and traces.</summary>
    public static bool IsHealthProbe(HttpContext context) =>
        context.Features.Get<ITlsHandshakeFeature>() is null && IsManagement(context.Request.Path);
}
