using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Identity;

namespace MtlsAspire.CertBootstrap.Tests;

/// <summary>
/// A partner's PKI that signs what it likes: a root bound to <c>spiffe://{rootTrustDomain}</c> (TrustDomainBinding's
/// marker) that directly signs a leaf claiming <c>claimedId</c>, with DNS <c>localhost</c> and both TLS usages, and a CRL
/// of that root, written as a service directory (tls.crt, tls.key, ca.crt, crl.pem) made at run time.
/// </summary>
public sealed class ForgedChain : IDisposable
{
    private ForgedChain(X509Certificate2 root, X509Certificate2 leaf, string crlPem, string directory)
    {
        Root = root;
        Leaf = leaf;
        CrlPem = crlPem;
        Directory = directory;
    }

    public X509Certificate2 Root { get; }

    public X509Certificate2 Leaf { get; }

    /// <summary>The root's (empty) CRL, PEM.</summary>
    public string CrlPem { get; }

    /// <summary>The service directory: the leaf's tls.crt and tls.key, the root as ca.crt, its CRL as crl.pem.</summary>
    public string Directory { get; }

    public static ForgedChain Create(string directory, DateTimeOffset now, string claimedId, string rootTrustDomain)
    {
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest($"CN=Partner Root ({rootTrustDomain})", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        rootRequest.CertificateExtensions.Add(TrustDomainBinding.MarkerExtension(rootTrustDomain));
        var root = rootRequest.CreateSelfSigned(now.AddHours(-1), now.AddDays(30));

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=forged", leafKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri(claimedId));
        names.AddDnsName("localhost");
        leafRequest.CertificateExtensions.Add(names.Build());
        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        leafRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        using var signed = leafRequest.Create(root, now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(16));
        var leaf = signed.CopyWithPrivateKey(leafKey);

        var crl = new CertificateRevocationListBuilder().Build(root, 1, now.AddDays(1), HashAlgorithmName.SHA256, thisUpdate: now.AddMinutes(-1));
        var crlPem = PemEncoding.WriteString("X509 CRL", crl);
        System.IO.Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "tls.crt"), leaf.ExportCertificatePem());
        File.WriteAllText(Path.Combine(directory, "tls.key"), leafKey.ExportPkcs8PrivateKeyPem());
        File.SetUnixFileMode(Path.Combine(directory, "tls.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(Path.Combine(directory, "ca.crt"), root.ExportCertificatePem());
        File.WriteAllText(Path.Combine(directory, "crl.pem"), crlPem);
        return new ForgedChain(root, leaf, crlPem, directory);
    }

    public void Dispose()
    {
        Leaf.Dispose();
        Root.Dispose();
    }
}
