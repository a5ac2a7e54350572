using System.Formats.Asn1;
using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Identity;

namespace MtlsAspire.Verification.Certificates;

/// <summary>Facts read from a certificate that .NET has no direct API for (URI SANs, key description, EKUs).</summary>
public static class CertificateFacts
{
    /// <summary>OID of the serverAuth extended key usage.</summary>
    public const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";

    /// <summary>OID of the clientAuth extended key usage.</summary>
    public const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    private const string SubjectAltNameOid = "2.5.29.17";

    /// <summary>
    /// The URI subject alternative names, read with <see cref="AsnReader"/> (context tag [6], IA5String). Throws
    /// <see cref="CryptographicException"/> when the extension is not a valid DER GeneralNames, as .NET's own
    /// <see cref="X509SubjectAlternativeNameExtension"/> readers do.
    /// </summary>
    public static IReadOnlyList<string> GetUriNames(this X509Certificate2 certificate)
    {
        var uris = new List<string>();
        if (certificate.Extensions[SubjectAltNameOid] is not { } extension)
        {
            return uris;
        }

        try
        {
            var names = new AsnReader(extension.RawData, AsnEncodingRules.DER);
            var reader = names.ReadSequence();
            names.ThrowIfNotEmpty();
            var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
            while (reader.HasData)
            {
                if (reader.PeekTag().HasSameClassAndValue(uriTag))
                {
                    uris.Add(reader.ReadCharacterString(UniversalTagNumber.IA5String, uriTag));
                }
                else
                {
                    reader.ReadEncodedValue();
                }
            }
        }
        catch (AsnContentException e)
        {
            throw new CryptographicException($"The subject alternative name extension is malformed: {e.Message}", e);
        }

        return uris;
    }

    /// <summary>The DNS subject alternative names.</summary>
    public static IReadOnlyList<string> GetDnsNames(this X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames()).ToList();

    /// <summary>The IP address subject alternative names.</summary>
    public static IReadOnlyList<IPAddress> GetIPAddresses(this X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateIPAddresses()).ToList();

    /// <summary>
    /// The SPIFFE ID when the certificate carries exactly one URI SAN and it is a valid SPIFFE ID; otherwise
    /// <c>default</c>, with <paramref name="problem"/> saying why.
    /// </summary>
    public static SpiffeId GetSpiffeId(this X509Certificate2 certificate, out string? problem)
    {
        IReadOnlyList<string> uris;
        try
        {
            uris = certificate.GetUriNames();
        }
        catch (CryptographicException e)
        {
            problem = $"a malformed subject alternative name extension ({e.InnerException?.Message ?? e.Message})";
            return default;
        }

        if (uris.Count != 1)
        {
            problem = uris.Count == 0
                ? "no URI SAN (no SPIFFE ID)"
                : $"{uris.Count} URI SANs (a SPIFFE certificate carries exactly one)";
            return default;
        }

        if (!SpiffeId.TryParse(uris[0], out var id, out var reason))
        {
            problem = $"URI SAN '{uris[0]}' is not a SPIFFE ID: {reason}";
            return default;
        }

        problem = null;
        return id;
    }

    /// <summary>The extended key usage OIDs, empty when the extension is absent.</summary>
    public static IReadOnlyList<string> GetExtendedKeyUsages(this X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>()
            .SelectMany(e => e.EnhancedKeyUsages.Cast<Oid>())
            .Select(o => o.Value ?? string.Empty)
            .ToList();

    /// <summary>A readable key description, e.g. "ECDSA P-256" or "RSA 2048".</summary>
    public static string DescribeKey(this X509Certificate2 certificate)
    {
        using var ecdsa = certificate.GetECDsaPublicKey();
        if (ecdsa is not null)
        {
            var curve = ecdsa.ExportParameters(false).Curve;
            return curve.Oid?.FriendlyName switch
            {
                "nistP256" or "ECDSA_P256" => "ECDSA P-256",
                "nistP384" or "ECDSA_P384" => "ECDSA P-384",
                var name => $"ECDSA {name ?? curve.Oid?.Value}",
            };
        }

        using var rsa = certificate.GetRSAPublicKey();
        return rsa is not null ? $"RSA {rsa.KeySize}" : certificate.PublicKey.Oid.FriendlyName ?? certificate.PublicKey.Oid.Value ?? "unknown";
    }

    /// <summary>The certificate's key type, when it is one we issue.</summary>
    public static KeyType? GetKeyType(this X509Certificate2 certificate)
    {
        using var ecdsa = certificate.GetECDsaPublicKey();
        if (ecdsa is not null)
        {
            return KeyType.EcdsaP256;
        }

        using var rsa = certificate.GetRSAPublicKey();
        return rsa is not null ? KeyType.Rsa2048 : null;
    }

    /// <summary>True when the certificate is a CA (basic constraints CA:true).</summary>
    public static bool IsCertificateAuthority(this X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority);

    /// <summary>
    /// True when the certificate names itself as its issuer and its signature verifies with its own key (a root).
    /// Throws <see cref="CryptographicException"/> when it is signed with an algorithm this check does not know or its
    /// public key cannot be read.
    /// </summary>
    public static bool IsSelfSigned(this X509Certificate2 certificate)
    {
        if (!certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData))
        {
            return false;
        }

        // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }
        var fields = new AsnReader(certificate.RawDataMemory, AsnEncodingRules.DER).ReadSequence();
        var tbs = fields.ReadEncodedValue();
        var algorithm = fields.ReadSequence().ReadObjectIdentifier();
        var signature = fields.ReadBitString(out _);
        return Signatures.Verify(tbs.Span, algorithm, signature, certificate, "certificate");
    }

    /// <summary>The serial number as an unsigned big integer.</summary>
    public static BigInteger GetSerial(this X509Certificate2 certificate) =>
        new(certificate.SerialNumberBytes.Span, isUnsigned: true, isBigEndian: true);

    /// <summary>The subject key identifier bytes, or null.</summary>
    public static byte[]? GetSubjectKeyIdentifier(this X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>().FirstOrDefault()?.SubjectKeyIdentifierBytes.ToArray();

    /// <summary>Adds every OID value to the collection (for building an EKU extension).</summary>
    public static OidCollection AddAll(this OidCollection collection, IEnumerable<string> oids)
    {
        foreach (var oid in oids)
        {
            collection.Add(new Oid(oid));
        }

        return collection;
    }

    /// <summary>True when <paramref name="certificate"/>'s public key belongs to <paramref name="privateKey"/>.</summary>
    public static bool PublicKeyMatches(this X509Certificate2 certificate, AsymmetricAlgorithm privateKey) =>
        certificate.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(privateKey.ExportSubjectPublicKeyInfo());
}
