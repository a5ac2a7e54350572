using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;
using MtlsAspire.Hosting;

namespace MtlsAspire.EndToEnd.Tests.Infrastructure;

/// <summary>
/// <c>app.CreateHttpClient(resource)</c> with a client certificate: an HttpClient for a resource's mTLS endpoint that
/// presents the certificate of an identity, and checks that the server is that resource (our roots, serverAuth, its SPIFFE ID).
/// </summary>
public static class MtlsHttpClients
{
    /// <summary>As <paramref name="asIdentity"/>: a resource's own certificate, or a new leaf issued for that name by the app's PKI.</summary>
    public static HttpClient CreateHttpClient(this TestApp app, string resource, string asIdentity)
    {
        var authority = app.Pki.Lifecycle!.Authority;
        var directory = authority.Ledger.ActiveLeaf(asIdentity) is { OutputDirectory: { } existing } && File.Exists(Path.Combine(existing, "tls.crt"))
            ? existing
            : authority.Issue(new LeafRequest(asIdentity) { DnsNames = ["localhost"] }).Directory;
        // Not disposed: the client's certificate context holds the leaf and its key for the client's life.
        var credentials = ServiceCredentials.Load(new CredentialDirectory(directory));
        return app.CreateHttpClient(resource, credentials.Leaf, credentials.Intermediates);
    }

    /// <summary>Presents exactly <paramref name="certificate"/> (or none).</summary>
    public static HttpClient CreateHttpClient(this TestApp app, string resource, X509Certificate2? certificate, IEnumerable<X509Certificate2> intermediates)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            SslOptions = ClientOptions(app, resource, certificate, intermediates, _ => { }),
        };
        return new HttpClient(handler) { BaseAddress = app.App.GetEndpoint(resource, "https") };
    }

    /// <summary>Opens a new TLS connection to <paramref name="resource"/> and returns the serial of the certificate it serves now.</summary>
    public static async Task<string> ServedCertificateSerialAsync(this TestApp app, string resource, string asIdentity)
    {
        var serial = string.Empty;
        var directory = app.Pki.Lifecycle!.Authority.Ledger.ActiveLeaf(asIdentity)?.OutputDirectory
            ?? throw new ArgumentException($"'{asIdentity}' has no certificate.", nameof(asIdentity));
        using var credentials = ServiceCredentials.Load(new CredentialDirectory(directory));
        using var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.Zero,
            SslOptions = ClientOptions(app, resource, credentials.Leaf, credentials.Intermediates, leaf => serial = leaf.SerialNumber),
        };
        using var client = new HttpClient(handler);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(app.App.GetEndpoint(resource, "https"), "/"));
        request.Headers.ConnectionClose = true;
        using var response = await client.SendAsync(request);
        return serial;
    }

    /// <summary>The SPIFFE ID of a resource.</summary>
    public static SpiffeId IdentityOf(this TestApp app, string resource) => app.Pki.IdentityOf(resource);

    private static SslClientAuthenticationOptions ClientOptions(TestApp app, string resource, X509Certificate2? certificate,
        IEnumerable<X509Certificate2> intermediates, Action<X509Certificate2> seen)
    {
        var expected = app.IdentityOf(resource);
        var roots = app.Pki.Lifecycle!.Authority.TrustedRoots();
        return new SslClientAuthenticationOptions
        {
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            ClientCertificateContext = certificate is null ? null : SslStreamCertificateContext.Create(certificate, [.. intermediates], offline: true),
            RemoteCertificateValidationCallback = (_, server, chain, _) =>
            {
                if (server is not X509Certificate2 leaf)
                {
                    return false;
                }

                seen(leaf);
                return ChainCheck.Verify(leaf, chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>() ?? [], roots, RevocationSet.Empty, DateTimeOffset.UtcNow,
                        CertificateFacts.ServerAuthOid).IsValid
                    && leaf.GetSpiffeId(out _) == expected;
            },
        };
    }
}
