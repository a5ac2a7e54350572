using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;

namespace MtlsAspire.CertBootstrap.Certificates;

/// <summary>Reads a CA's PEM private key (ECDSA or RSA) and pairs it with its certificate.</summary>
internal static class PrivateKeys
{
    /// <summary>
    /// Imports the key in <paramref name="pem"/>: with a <paramref name="passphrase"/>, an encrypted PKCS#8 key (the
    /// root's); without, PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY". Throws
    /// <see cref="PkiException"/> naming <paramref name="path"/> (and <paramref name="origin"/>, where the passphrase
    /// came from); the message never holds key material.
    /// </summary>
    public static AsymmetricAlgorithm Import(string pem, string? passphrase, string path, string? origin = null)
    {
        var label = PemEncoding.TryFind(pem, out var fields) ? pem[fields.Label] : null;
        if (label is null)
        {
            throw new PkiException($"{path} holds no PEM private key (the file is empty, truncated or damaged).");
        }

        if (passphrase is not null && label != "ENCRYPTED PRIVATE KEY")
        {
            throw new PkiException($"{path} is not an encrypted PKCS#8 key (found '{label}'): the root key must be encrypted at rest.");
        }

        if (passphrase is null && label is not ("PRIVATE KEY" or "EC PRIVATE KEY" or "RSA PRIVATE KEY"))
        {
            // ImportFromPem would also take a PUBLIC KEY, and fail only at the first signature.
            throw new PkiException($"{path} is not an unencrypted private key (found '{label}'): expected PKCS#8 'PRIVATE KEY', SEC1 'EC PRIVATE KEY' or PKCS#1 'RSA PRIVATE KEY'.");
        }

        foreach (var create in new Func<AsymmetricAlgorithm>[] { ECDsa.Create, RSA.Create })
        {
            var key = create();
            try
            {
                if (passphrase is null)
                {
                    key.ImportFromPem(pem);
                }
                else
                {
                    key.ImportFromEncryptedPem(pem, passphrase);
                }

                return key;
            }
            catch (CryptographicException) when (passphrase is not null && key is ECDsa)
            {
                key.Dispose();
                // Either the passphrase is wrong or the key is RSA: try RSA before concluding.
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                key.Dispose();
                if (key is RSA)
                {
                    throw new PkiException(passphrase is null
                        ? $"{path} is damaged, or not an ECDSA or RSA private key."
                        : $"{path} could not be decrypted with the passphrase from {origin}: wrong passphrase, or the key file is damaged.", e);
                }
            }
        }

        throw new PkiException($"{path} could not be decrypted with the passphrase from {origin}: wrong passphrase, or the key file is damaged.");
    }

    /// <summary>A copy of <paramref name="certificate"/> that carries <paramref name="key"/>, its private key.</summary>
    public static X509Certificate2 AttachTo(X509Certificate2 certificate, AsymmetricAlgorithm key) => key switch
    {
        ECDsa ecdsa => certificate.CopyWithPrivateKey(ecdsa),
        RSA rsa => certificate.CopyWithPrivateKey(rsa),
        _ => throw new PkiException("Unsupported key type."),
    };
}
