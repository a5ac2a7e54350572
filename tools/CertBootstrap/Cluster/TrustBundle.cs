using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Cluster;

/// <summary>One root of the trust bundle, and the file it was read from.</summary>
/// <param name="Certificate">The self-signed root CA.</param>
/// <param name="Source">The file it came from (the first one, when several hold it).</param>
public sealed record BundleRoot(X509Certificate2 Certificate, string Source)
{
    /// <summary>The SHA-256 thumbprint, in hex: what tells two roots apart.</summary>
    public string Thumbprint { get; } = Certificate.GetCertHashString(HashAlgorithmName.SHA256);
}

/// <summary>The trust bundle (<c>ca.crt</c>) services mount: every root, once, in a deterministic order.</summary>
public static class TrustBundle
{
    /// <summary>
    /// The roots of each mounted CA Secret in <paramref name="rootDirectories"/> (<c>ca.crt</c> when it holds any
    /// certificate, else the first certificate of <c>tls.crt</c>) and every certificate of
    /// <paramref name="extraRootsFile"/> (none when the file is missing or empty: it is an optional ConfigMap),
    /// deduplicated by SHA-256 thumbprint and ordered by notBefore, then thumbprint. Throws
    /// <see cref="PkiException"/> naming the file when a certificate is not a self-signed CA.
    /// </summary>
    public static IReadOnlyList<BundleRoot> Gather(IEnumerable<string> rootDirectories, string? extraRootsFile)
    {
        var roots = new List<BundleRoot>();
        foreach (var directory in rootDirectories)
        {
            var bundlePath = Path.Combine(directory, CredentialFiles.BundleFileName);
            var (source, certificates) = HoldsText(bundlePath)
                ? (bundlePath, MountedCa.ReadCertificates(bundlePath, "its roots"))
                : (Path.Combine(directory, CredentialFiles.CertificateFileName), MountedCa.ReadCertificates(Path.Combine(directory, CredentialFiles.CertificateFileName), "the root's certificate")[..1]);
            roots.AddRange(RequireRoots(certificates, source));
        }

        if (extraRootsFile is not null && HoldsText(extraRootsFile))
        {
            roots.AddRange(RequireRoots(MountedCa.ReadCertificates(extraRootsFile, "extra roots"), extraRootsFile));
        }

        return [.. roots.DistinctBy(r => r.Thumbprint).OrderBy(r => r.Certificate.NotBefore.ToUniversalTime()).ThenBy(r => r.Thumbprint, StringComparer.Ordinal)];
    }

    private static bool HoldsText(string path) => File.Exists(path) && File.ReadAllText(path).Trim().Length > 0;

    private static IEnumerable<BundleRoot> RequireRoots(List<X509Certificate2> certificates, string source)
    {
        foreach (var certificate in certificates)
        {
            bool selfSigned;
            try
            {
                selfSigned = certificate.IsSelfSigned();
            }
            catch (CryptographicException e)
            {
                throw new PkiException($"{source}: '{certificate.Subject}': {e.Message}", e);
            }

            if (!selfSigned || !certificate.IsCertificateAuthority())
            {
                throw new PkiException($"{source}: '{certificate.Subject}' (issued by '{certificate.Issuer}') is not a self-signed root CA, so it cannot be a trust anchor in the bundle.");
            }
        }

        return certificates.Select(c => new BundleRoot(c, source));
    }
}
