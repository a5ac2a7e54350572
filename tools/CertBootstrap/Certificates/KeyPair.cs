using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Certificates;

namespace MtlsAspire.CertBootstrap.Certificates;

/// <summary>A freshly generated or loaded private key of either supported type.</summary>
public sealed class KeyPair : IDisposable
{
    private KeyPair(AsymmetricAlgorithm key, KeyType type)
    {
        Key = key;
        Type = type;
    }

    /// <summary>The key (an <see cref="ECDsa"/> or an <see cref="RSA"/>).</summary>
    public AsymmetricAlgorithm Key { get; }

    /// <summary>Its type.</summary>
    public KeyType Type { get; }

    /// <summary>Generates a new key pair.</summary>
    public static KeyPair Generate(KeyType type) => type switch
    {
        KeyType.EcdsaP256 => new KeyPair(ECDsa.Create(ECCurve.NamedCurves.nistP256), type),
        KeyType.Rsa2048 => new KeyPair(RSA.Create(2048), type),
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>A certificate request for this key, signed with SHA-256.</summary>
    public CertificateRequest CreateRequest(X500DistinguishedName subject) => Key switch
    {
        ECDsa ecdsa => new CertificateRequest(subject, ecdsa, HashAlgorithmName.SHA256),
        RSA rsa => new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
        _ => throw new InvalidOperationException("Unsupported key."),
    };

    /// <summary>A signature generator for this key, used when it signs for a CA.</summary>
    public X509SignatureGenerator CreateSignatureGenerator() => Key switch
    {
        ECDsa ecdsa => X509SignatureGenerator.CreateForECDsa(ecdsa),
        RSA rsa => X509SignatureGenerator.CreateForRSA(rsa, RSASignaturePadding.Pkcs1),
        _ => throw new InvalidOperationException("Unsupported key."),
    };

    /// <summary>Attaches this private key to a certificate carrying its public key.</summary>
    public X509Certificate2 AttachTo(X509Certificate2 certificate) => Key switch
    {
        ECDsa ecdsa => certificate.CopyWithPrivateKey(ecdsa),
        RSA rsa => certificate.CopyWithPrivateKey(rsa),
        _ => throw new InvalidOperationException("Unsupported key."),
    };

    /// <summary>The private key as unencrypted PKCS#8 PEM.</summary>
    public string ExportPkcs8Pem() => Key.ExportPkcs8PrivateKeyPem();

    /// <summary>The private key as encrypted PKCS#8 PEM (AES-256-CBC, PBKDF2-SHA256, 100,000 iterations).</summary>
    public string ExportEncryptedPkcs8Pem(ReadOnlySpan<char> passphrase) =>
        Key.ExportEncryptedPkcs8PrivateKeyPem(passphrase, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 100_000));

    /// <inheritdoc />
    public void Dispose() => Key.Dispose();
}
