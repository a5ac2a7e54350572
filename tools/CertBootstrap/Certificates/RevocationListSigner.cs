using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Revocation;

namespace MtlsAspire.CertBootstrap.Certificates;

/// <summary>
/// Signs a CA's CRL (RFC 5280 §5: v2, SHA-256, authority key identifier and CRL number). Encoded here rather than with
/// <see cref="CertificateRevocationListBuilder"/>, whose writer grows its buffer 1 KiB at a time, copying and clearing
/// it each time: quadratic, 26 s for 100,000 entries. This writer is sized for the entries up front.
/// </summary>
internal static class RevocationListSigner
{
    private const string CrlNumberOid = "2.5.29.20";
    private const string ReasonCodeOid = "2.5.29.21";

    // An entry: SEQUENCE { INTEGER serial (≤ 21 bytes), UTCTime, SEQUENCE { reasonCode extension (~13 bytes) } } with headers.
    private const int BytesPerEntry = 56;

    /// <summary>
    /// A DER CRL signed by <paramref name="issuer"/>, a CA certificate carrying its private key and a subject key
    /// identifier (the CRL's authority key identifier), listing every entry of <paramref name="revoked"/>.
    /// </summary>
    public static byte[] Sign(X509Certificate2 issuer, BigInteger number, IEnumerable<RevokedCertificate> revoked,
        DateTimeOffset thisUpdate, DateTimeOffset nextUpdate)
    {
        var entries = revoked as IReadOnlyCollection<RevokedCertificate> ?? [.. revoked];
        using var ecdsa = issuer.GetECDsaPrivateKey();
        using var rsa = ecdsa is null ? issuer.GetRSAPrivateKey() : null;
        var generator = ecdsa is not null
            ? X509SignatureGenerator.CreateForECDsa(ecdsa)
            : X509SignatureGenerator.CreateForRSA(rsa ?? throw new CryptographicException($"{issuer.Subject} carries no private key to sign a CRL with."), RSASignaturePadding.Pkcs1);
        var algorithm = generator.GetSignatureAlgorithmIdentifier(HashAlgorithmName.SHA256);

        var tbs = new AsnWriter(AsnEncodingRules.DER, 512 + (entries.Count * BytesPerEntry));
        using (tbs.PushSequence())
        {
            tbs.WriteInteger(1); // v2
            tbs.WriteEncodedValue(algorithm);
            tbs.WriteEncodedValue(issuer.SubjectName.RawData);
            WriteTime(tbs, thisUpdate);
            WriteTime(tbs, nextUpdate);
            if (entries.Count > 0)
            {
                using (tbs.PushSequence())
                {
                    foreach (var entry in entries)
                    {
                        WriteEntry(tbs, entry);
                    }
                }
            }

            using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (tbs.PushSequence())
            {
                var keyIdentifier = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false);
                WriteExtension(tbs, keyIdentifier.Oid!.Value!, keyIdentifier.RawData);
                var crlNumber = new AsnWriter(AsnEncodingRules.DER);
                crlNumber.WriteInteger(number);
                WriteExtension(tbs, CrlNumberOid, crlNumber.Encode());
            }
        }

        var tbsDer = tbs.Encode();
        var crl = new AsnWriter(AsnEncodingRules.DER, tbsDer.Length + 256);
        using (crl.PushSequence())
        {
            crl.WriteEncodedValue(tbsDer);
            crl.WriteEncodedValue(algorithm);
            crl.WriteBitString(generator.SignData(tbsDer, HashAlgorithmName.SHA256));
        }

        return crl.Encode();
    }

    private static void WriteEntry(AsnWriter writer, RevokedCertificate entry)
    {
        using (writer.PushSequence())
        {
            writer.WriteInteger(entry.Serial);
            WriteTime(writer, entry.RevokedAt);
            if (entry.Reason is { } reason)
            {
                using (writer.PushSequence())
                {
                    var reasonCode = new AsnWriter(AsnEncodingRules.DER);
                    reasonCode.WriteEnumeratedValue(reason);
                    WriteExtension(writer, ReasonCodeOid, reasonCode.Encode());
                }
            }
        }
    }

    private static void WriteExtension(AsnWriter writer, string oid, byte[] value)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(oid);
            writer.WriteOctetString(value);
        }
    }

    // RFC 5280 §5.1.2.4: UTCTime through 2049, GeneralizedTime from 2050.
    private static void WriteTime(AsnWriter writer, DateTimeOffset time)
    {
        if (time.UtcDateTime.Year < 2050)
        {
            writer.WriteUtcTime(time);
        }
        else
        {
            writer.WriteGeneralizedTime(time, omitFractionalSeconds: true);
        }
    }
}
