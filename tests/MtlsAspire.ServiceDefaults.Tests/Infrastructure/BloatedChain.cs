using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Certificates;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>
/// A stranger's chain as an attacker makes it to fill a server's memory: a fresh leaf under two made-up CAs, each carrying
/// <c>padding</c> bytes in an extension of no meaning. The upper CA names an issuer that exists nowhere, so the client
/// sends both CAs (a chain ending at a self-signed root would not send the root). Keys exist only in memory.
/// </summary>
public sealed class BloatedChain : IDisposable
{
    private BloatedChain(X509Certificate2 leaf, X509Certificate2[] authorities)
    {
        Leaf = leaf;
        Authorities = authorities;
    }

    public X509Certificate2 Leaf { get; }

    /// <summary>The leaf's issuer, then that one's issuer.</summary>
    public X509Certificate2[] Authorities { get; }

    /// <summary>The DER bytes of both CAs.</summary>
    public int AuthorityBytes => Authorities.Sum(a => a.RawData.Length);

    public static BloatedChain Create(int padding, string spiffeId)
    {
        using var upperKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var lowerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var nowhereKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = Guid.NewGuid().ToString("N")[..8];
        var now = DateTimeOffset.UtcNow;
        using var upper = Authority($"CN=Bogus Upper CA {id}", upperKey, new X500DistinguishedName($"CN=Nowhere {id}"), nowhereKey, padding, now);
        using var lower = Authority($"CN=Bogus Lower CA {id}", lowerKey, upper.SubjectName, upperKey, padding, now);

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=stranger", leafKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForEndEntity(true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(CertificateFacts.ClientAuthOid)], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(spiffeId));
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var leaf = request.Create(lower.SubjectName, X509SignatureGenerator.CreateForECDsa(lowerKey), now.AddMinutes(-5), now.AddHours(1), Serial());
        return new BloatedChain(leaf.CopyWithPrivateKey(leafKey),
            [X509CertificateLoader.LoadCertificate(lower.RawData), X509CertificateLoader.LoadCertificate(upper.RawData)]);
    }

    private static X509Certificate2 Authority(string subject, ECDsa key, X500DistinguishedName issuer, ECDsa issuerKey, int padding, DateTimeOffset now)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForCertificateAuthority());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteOctetString(RandomNumberGenerator.GetBytes(padding));
        request.CertificateExtensions.Add(new X509Extension(new Oid("1.3.6.1.4.1.99999.1"), writer.Encode(), critical: false));
        return request.Create(issuer, X509SignatureGenerator.CreateForECDsa(issuerKey), now.AddMinutes(-5), now.AddDays(1), Serial());
    }

    private static byte[] Serial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 1);
        return serial;
    }

    public void Dispose()
    {
        Leaf.Dispose();
        foreach (var authority in Authorities)
        {
            authority.Dispose();
        }
    }
}
