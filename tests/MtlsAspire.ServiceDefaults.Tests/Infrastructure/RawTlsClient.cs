using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Revocation;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>
/// An HttpClient presenting exactly the certificate a test chose (or none). It still validates the server for real:
/// chain to the test's bundle with serverAuth (no revocation: the server is not what these tests judge).
/// </summary>
public static class RawTlsClient
{
    public static HttpClient Create(X509Certificate2? certificate, IEnumerable<X509Certificate2> intermediates, X509Certificate2Collection trustedRoots,
        SslProtocols protocols = SslProtocols.Tls13, Action<X509Certificate2>? serverObserver = null, Action<SocketsHttpHandler>? configure = null)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.Zero,
            SslOptions = new SslClientAuthenticationOptions
            {
                EnabledSslProtocols = protocols,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                ClientCertificateContext = certificate is null ? null : SslStreamCertificateContext.Create(certificate, [.. intermediates], offline: true),
                RemoteCertificateValidationCallback = (_, server, chain, _) =>
                {
                    if (server is not X509Certificate2 leaf)
                    {
                        return false;
                    }

                    serverObserver?.Invoke(leaf);
                    return ChainCheck.Verify(leaf, chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>() ?? [], trustedRoots, RevocationSet.Empty,
                        DateTimeOffset.UtcNow, CertificateFacts.ServerAuthOid).IsValid;
                },
            },
        };
        configure?.Invoke(handler);
        return new HttpClient(handler);
    }
}
