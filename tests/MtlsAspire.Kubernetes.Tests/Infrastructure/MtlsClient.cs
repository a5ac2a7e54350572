using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace MtlsAspire.Kubernetes.Tests.Infrastructure;

/// <summary>An mTLS HttpClient with a cluster identity: a Secret's key and certificate, trusting the published trust bundle only.</summary>
public static class MtlsClient
{
    /// <summary>
    /// A client presenting Secret <paramref name="secret"/>. Requests name services by their in-cluster names
    /// (<c>https://order.mtls-aspire.svc:PORT</c>), so the server's certificate must carry that DNS SAN; the connection
    /// itself goes to loopback, where the pod runs.
    /// </summary>
    public static HttpClient For(LocalCluster cluster, string secret) => For(cluster, cluster.CertManager.Secrets[secret]);

    /// <summary>Whether a new connection with <paramref name="client"/> to <paramref name="url"/> is refused in the TLS handshake.</summary>
    public static async Task<bool> IsRefusedAsync(HttpClient client, string url)
    {
        try
        {
            using var response = await client.PostAsync(url, new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
            return false;
        }
        catch (HttpRequestException)
        {
            return true;
        }
    }

    /// <summary>A client presenting <paramref name="files"/> (<c>tls.crt</c>, <c>tls.key</c>), e.g. what a pod's CSI volume holds.</summary>
    public static HttpClient For(LocalCluster cluster, IReadOnlyDictionary<string, string> files)
    {
        var identity = X509Certificate2.CreateFromPem(files["tls.crt"], files["tls.key"]);
        var trust = new X509Certificate2Collection();
        trust.ImportFromPem(cluster.ConfigMaps["mtls-trust-bundle"]["ca.crt"]);
        var chain = new X509Certificate2Collection();
        chain.ImportFromPem(files["tls.crt"]);
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck, // the server's revocation status is not what these tests are about
            DisableCertificateDownloads = true,
        };
        policy.CustomTrustStore.AddRange(trust);
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificateContext = SslStreamCertificateContext.Create(identity, new X509Certificate2Collection(chain.Skip(1).ToArray()), offline: true),
                CertificateChainPolicy = policy,
            },
            PooledConnectionLifetime = TimeSpan.Zero,
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, context.DnsEndPoint.Port), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler);
    }
}
