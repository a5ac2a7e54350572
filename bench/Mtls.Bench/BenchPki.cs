using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.Mtls.Bench;

/// <summary>
/// A temporary PKI made with CertBootstrap: root, intermediate, a server leaf "payment" (DNS localhost, IP 127.0.0.1)
/// and a client leaf "order" (default SANs), all of one key type.
/// </summary>
internal sealed class BenchPki : IDisposable
{
    public const string ServerService = "payment";
    public const string ClientService = "order";

    private BenchPki(KeyType keyType, string directory, CertificateAuthority authority, TimeSpan elapsed)
    {
        KeyType = keyType;
        Directory = directory;
        Elapsed = elapsed;
        ServerDirectory = authority.Layout.ServiceDirectory(ServerService);
        ClientDirectory = authority.Layout.ServiceDirectory(ClientService);
        Client = ServiceCredentials.Load(new CredentialDirectory(ClientDirectory));
        TrustedRoots = new X509Certificate2Collection(Pem.ReadCertificates(File.ReadAllText(authority.Layout.BundleFile), "ca.crt").ToArray());
    }

    public KeyType KeyType { get; }

    public string Directory { get; }

    /// <summary>How long init + the two issuances took.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>The server's credential directory (tls.crt, tls.key, ca.crt, crl.pem).</summary>
    public string ServerDirectory { get; }

    public string ClientDirectory { get; }

    /// <summary>The client's leaf (with key), intermediates and bundle.</summary>
    public ServiceCredentials Client { get; }

    /// <summary>The roots of the PKI's ca.crt, which the client trusts for the server.</summary>
    public X509Certificate2Collection TrustedRoots { get; }

    public static BenchPki Create(KeyType keyType, string work)
    {
        var stopwatch = Stopwatch.StartNew();
        var directory = Path.Combine(work, "pki-" + keyType.ToName());
        var (authority, _) = CertificateAuthority.Initialize(directory, new PkiSettings { KeyType = keyType },
            PassphraseSource.FromValue("mtls-bench-passphrase-not-a-secret"), TimeProvider.System);
        authority.Issue(new LeafRequest(ServerService) { DnsNames = ["localhost"], IPAddresses = [IPAddress.Loopback] });
        authority.Issue(new LeafRequest(ClientService));
        return new BenchPki(keyType, directory, authority, stopwatch.Elapsed);
    }

    public void Dispose()
    {
        Client.Dispose();
        foreach (var root in TrustedRoots)
        {
            root.Dispose();
        }
    }
}
