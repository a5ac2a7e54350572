using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.CertBootstrap.Tests;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>
/// Makes the odd certificates a test needs, signed by a real PKI's intermediate: a serverAuth-only client, a leaf
/// without a SPIFFE ID, one from another trust domain, a CA posing as a leaf. Regular leaves come from
/// <see cref="CertificateAuthority.Issue"/>.
/// </summary>
public static class CertificateForge
{
    public static X509Certificate2 Intermediate(TestPki pki, string? serial = null)
    {
        var directory = pki.Authority.Layout.IntermediateDirectory(serial ?? pki.Authority.Ledger.Find(MtlsAspire.CertBootstrap.Ledger.CertificateKind.Intermediate,
            MtlsAspire.CertBootstrap.Ledger.CertificateStatus.Active)[^1].Serial);
        return X509Certificate2.CreateFromPemFile(PkiLayout.CertificateIn(directory), PkiLayout.KeyIn(directory));
    }

    /// <summary>
    /// A leaf signed by the PKI's intermediate; <paramref name="certificateAuthority"/> and <paramref name="keyUsage"/>
    /// forge one that breaks the X.509-SVID profile (a CA, or a leaf that may sign certificates or CRLs).
    /// </summary>
    public static X509Certificate2 Leaf(TestPki pki, string? uri, string[] usages, DateTimeOffset? notBefore = null, TimeSpan? lifetime = null,
        bool certificateAuthority = false, X509KeyUsageFlags keyUsage = X509KeyUsageFlags.DigitalSignature, string subject = "CN=forged, O=MtlsAspire")
    {
        using var issuer = Intermediate(pki);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(certificateAuthority
            ? X509BasicConstraintsExtension.CreateForCertificateAuthority()
            : X509BasicConstraintsExtension.CreateForEndEntity(true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(keyUsage, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([.. usages.Select(u => new Oid(u))], false));
        var san = new SubjectAlternativeNameBuilder();
        if (uri is not null)
        {
            san.AddUri(new Uri(uri));
        }

        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        var start = notBefore ?? pki.Time.GetUtcNow().AddMinutes(-5);
        using var certificate = request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuer.GetECDsaPrivateKey()!), start,
            start + (lifetime ?? TimeSpan.FromHours(1)), RandomNumberGenerator.GetBytes(16).Select((b, i) => i == 0 ? (byte)((b & 0x7F) | 1) : b).ToArray());
        return certificate.CopyWithPrivateKey(key);
    }

    public static string[] ClientAuth => [CertificateFacts.ClientAuthOid];

    public static string[] ServerAuthOnly => [CertificateFacts.ServerAuthOid];
}
