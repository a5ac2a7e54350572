using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace MtlsAspire.Verification.Certificates;

/// <summary>
/// Verifies an X.509 signature (over a certificate's or a CRL's to-be-signed bytes) with a certificate's public key:
/// ECDSA or RSA PKCS#1 v1.5, with SHA-256, SHA-384 or SHA-512. .NET verifies neither a CRL nor a self-signature.
/// </summary>
internal static class Signatures
{
    /// <summary>
    /// True when <paramref name="signature"/> over <paramref name="signed"/> verifies with <paramref name="signer"/>'s key.
    /// Throws <see cref="CryptographicException"/> naming <paramref name="what"/> when the algorithm is not one of these.
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> signed, string algorithmOid, ReadOnlySpan<byte> signature, X509Certificate2 signer, string what)
    {
        var hash = algorithmOid switch
        {
            "1.2.840.10045.4.3.2" or "1.2.840.113549.1.1.11" => HashAlgorithmName.SHA256,
            "1.2.840.10045.4.3.3" or "1.2.840.113549.1.1.12" => HashAlgorithmName.SHA384,
            "1.2.840.10045.4.3.4" or "1.2.840.113549.1.1.13" => HashAlgorithmName.SHA512,
            var other => throw new CryptographicException($"The {what} is signed with an unsupported algorithm ({other})."),
        };

        using var ecdsa = signer.GetECDsaPublicKey();
        if (ecdsa is not null)
        {
            return algorithmOid.StartsWith("1.2.840.10045", StringComparison.Ordinal) &&
                ecdsa.VerifyData(signed, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
        }

        using var rsa = signer.GetRSAPublicKey();
        return rsa is not null && algorithmOid.StartsWith("1.2.840.113549", StringComparison.Ordinal) &&
            rsa.VerifyData(signed, signature, hash, RSASignaturePadding.Pkcs1);
    }
}
