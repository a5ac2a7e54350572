namespace MtlsAspire.Verification.Storage;

/// <summary>
/// The four files of a service's credentials, named like a cert-manager Secret's keys so one code path serves a
/// local directory and a mounted Kubernetes Secret.
/// </summary>
/// <param name="CertificatePem"><c>tls.crt</c>: the leaf, then its intermediate.</param>
/// <param name="KeyPem"><c>tls.key</c>: the leaf's PKCS#8 private key.</param>
/// <param name="BundlePem"><c>ca.crt</c>: every root currently trusted.</param>
/// <param name="CrlPem"><c>crl.pem</c>: the current CRL of every CA.</param>
public sealed record CredentialFiles(string CertificatePem, string KeyPem, string BundlePem, string CrlPem)
{
    /// <summary>The leaf and intermediate file.</summary>
    public const string CertificateFileName = "tls.crt";

    /// <summary>The private key file (mode 0600).</summary>
    public const string KeyFileName = "tls.key";

    /// <summary>The trust bundle file.</summary>
    public const string BundleFileName = "ca.crt";

    /// <summary>The CRL file.</summary>
    public const string CrlFileName = "crl.pem";

    /// <summary>The four names, in the order above.</summary>
    public static IReadOnlyList<string> FileNames { get; } = [CertificateFileName, KeyFileName, BundleFileName, CrlFileName];

    /// <inheritdoc />
    public override string ToString() => "CredentialFiles { tls.crt, tls.key (redacted), ca.crt, crl.pem }";
}
