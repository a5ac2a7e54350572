using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>The mTLS client for service-discovery HttpClients.</summary>
public static class MtlsClientExtensions
{
    /// <summary>
    /// Makes the client call over mutual TLS: it presents this service's certificate chain, validates the server
    /// against ca.crt, crl.pem and serverAuth, and requires the server to be <paramref name="service"/> (a service name
    /// in this trust domain and environment, or a full SPIFFE ID): a valid certificate of another service is refused
    /// as an impersonation. Use with <c>https://{service}</c> or <c>https+http://{service}</c> base addresses.
    /// A refused handshake surfaces as one <see cref="MtlsHandshakeException"/> with the reason, not retried.
    /// </summary>
    public static IHttpClientBuilder AddMtlsClient(this IHttpClientBuilder builder, string service)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(service);
        builder.Services.AddMtlsCore();
        builder.ConfigurePrimaryHttpMessageHandler(services => new MtlsClientHandler(
            services.GetRequiredService<MtlsCredentialStore>(),
            services.GetRequiredService<IOptions<MtlsOptions>>().Value,
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<MtlsTelemetry>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger("MtlsAspire.Mtls.Client"),
            service));
        return builder;
    }
}
