using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Revocation;

namespace MtlsAspire.CertBootstrap.Certificates;

/// <summary>Signs a CA's CRL: the one place <see cref="CertificateRevocationListBuilder"/> is driven.</summary>
internal static class RevocationListSigner
{
    /// <summary>
    /// A DER CRL (v2, SHA-256) signed by <paramref name="issuer"/>, a CA certificate carrying its private key and a
    /// subject key identifier (the CRL's authority key identifier), listing every entry of <paramref name="revoked"/>.
    /// </summary>
    public static byte[] Sign(X509Certificate2 issuer, BigInteger number, IEnumerable<RevokedCertificate> revoked,
        DateTimeOffset thisUpdate, DateTimeOffset nextUpdate)
    {
        var builder = new CertificateRevocationListBuilder();
        foreach (var entry in revoked)
        {
            // A DER INTEGER's content: big-endian two's complement, so a serial whose top bit is set gets a leading zero.
            builder.AddEntry(entry.Serial.ToByteArray(isUnsigned: false, isBigEndian: true), entry.RevokedAt, entry.Reason);
        }

        using var rsa = issuer.GetRSAPublicKey();
        return builder.Build(issuer, number, nextUpdate, HashAlgorithmName.SHA256, rsa is null ? null : RSASignaturePadding.Pkcs1, thisUpdate);
    }
}
