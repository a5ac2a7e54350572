using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Certificates;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>
/// Another organisation's CA, made the way an outsider would with <see cref="CertificateRequest"/>: a root (with the
/// URI SAN <c>spiffe://{trust domain}</c> when <paramref name="trustDomain"/> is given, else unmarked), intermediates
/// under it, leaves claiming whatever SPIFFE ID a test asks, and a CRL per CA so a bundle that holds the root can check
/// them. Keys exist only in memory.
/// </summary>
public sealed class ForeignCa(string? trustDomain) : IDisposable
{
    private readonly List<X509Certificate2> _owned = [];
    private X509Certificate2? _root;

    public X509Certificate2 Root => _root ??= Own(CreateRoot());

    /// <summary>The CAs made so far below the root, in order.</summary>
    public List<X509Certificate2> Intermediates { get; } = [];

    /// <summary>An intermediate under the root.</summary>
    public X509Certificate2 AddIntermediate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var subject = new X500DistinguishedName($"CN=Foreign Intermediate {Intermediates.Count + 1}, O=Elsewhere");
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForCertificateAuthority(0));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Root, true, false));
        using var certificate = request.Create(Root.SubjectName, X509SignatureGenerator.CreateForECDsa(Root.GetECDsaPrivateKey()!),
            DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1), Serial());
        var intermediate = Own(certificate.CopyWithPrivateKey(key));
        Intermediates.Add(intermediate);
        return intermediate;
    }

    /// <summary>A client leaf (clientAuth, one URI SAN <paramref name="spiffeId"/>) signed by <paramref name="issuer"/>.</summary>
    public X509Certificate2 Leaf(X509Certificate2 issuer, string spiffeId)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=foreign-leaf, O=Elsewhere", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForEndEntity(true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(CertificateFacts.ClientAuthOid), new Oid(CertificateFacts.ServerAuthOid)], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(spiffeId));
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using var certificate = request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuer.GetECDsaPrivateKey()!),
            DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1), Serial());
        return Own(certificate.CopyWithPrivateKey(key));
    }

    /// <summary>The root, PEM, for a bundle.</summary>
    public string BundlePem => Pem.Certificates([Root]);

    /// <summary><paramref name="files"/> whose bundle also holds this root and whose crl.pem also holds this CA's CRLs.</summary>
    public MtlsAspire.Verification.Storage.CredentialFiles AddedTo(MtlsAspire.Verification.Storage.CredentialFiles files) =>
        files with { BundlePem = files.BundlePem + BundlePem, CrlPem = files.CrlPem + CrlPem };

    /// <summary>An empty CRL of the root and of every intermediate, PEM, for a crl.pem.</summary>
    public string CrlPem => string.Concat(new[] { Root }.Concat(Intermediates).Select(ca => PemEncoding.WriteString("X509 CRL",
        new CertificateRevocationListBuilder().Build(ca, BigInteger.One, DateTimeOffset.UtcNow.AddHours(1), HashAlgorithmName.SHA256)) + "\n"));

    private X509Certificate2 CreateRoot()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=Foreign Root CA, OU={trustDomain ?? "unmarked"}, O=Elsewhere", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForCertificateAuthority());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (trustDomain is not null)
        {
            request.CertificateExtensions.Add(MtlsAspire.Verification.Identity.TrustDomainBinding.MarkerExtension(trustDomain));
        }

        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(2));
    }

    private static byte[] Serial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 1);
        return serial;
    }

    private X509Certificate2 Own(X509Certificate2 certificate)
    {
        _owned.Add(certificate);
        return certificate;
    }

    public void Dispose()
    {
        foreach (var certificate in _owned)
        {
            certificate.Dispose();
        }
    }
}
