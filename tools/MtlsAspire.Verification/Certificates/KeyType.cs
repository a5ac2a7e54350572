namespace MtlsAspire.Verification.Certificates;

/// <summary>The key algorithm of a CA or leaf.</summary>
public enum KeyType
{
    /// <summary>ECDSA on NIST P-256, signed with SHA-256 (the default).</summary>
    EcdsaP256,

    /// <summary>RSA 2048-bit, PKCS#1 v1.5 signatures with SHA-256.</summary>
    Rsa2048,
}

/// <summary>Names of <see cref="KeyType"/> as the CLI and pki.json spell them.</summary>
public static class KeyTypeNames
{
    /// <summary>The CLI spelling: <c>ecdsa-p256</c> or <c>rsa-2048</c>.</summary>
    public static string ToName(this KeyType keyType) => keyType switch
    {
        KeyType.EcdsaP256 => "ecdsa-p256",
        KeyType.Rsa2048 => "rsa-2048",
        _ => throw new ArgumentOutOfRangeException(nameof(keyType)),
    };

    /// <summary>Parses the CLI spelling, throwing with the accepted values when it is not one.</summary>
    public static KeyType Parse(string name) => name switch
    {
        "ecdsa-p256" => KeyType.EcdsaP256,
        "rsa-2048" => KeyType.Rsa2048,
        _ => throw new ArgumentException($"Unknown key type '{name}': use ecdsa-p256 or rsa-2048.", nameof(name)),
    };
}
