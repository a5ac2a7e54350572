using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
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

/// <summary>The roots of the trust bundle, and the extra roots left out of it with the reason for each.</summary>
/// <param name="Roots">The roots in bundle order.</param>
/// <param name="LeftOut">One line per extra root refused, naming it, its file and what would admit it.</param>
public sealed record GatheredRoots(IReadOnlyList<BundleRoot> Roots, IReadOnlyList<string> LeftOut);

/// <summary>The trust bundle (<c>ca.crt</c>) services mount: every root, once, in a deterministic order.</summary>
public static class TrustBundle
{
    /// <summary>
    /// The roots of each mounted CA Secret in <paramref name="rootDirectories"/> (<c>ca.crt</c> when it holds any
    /// certificate, else the first certificate of <c>tls.crt</c>) and the certificates of
    /// <paramref name="extraRootsFile"/> (none when the file is missing or empty: it is an optional ConfigMap),
    /// deduplicated by SHA-256 thumbprint and ordered by notBefore, then thumbprint. Throws
    /// <see cref="PkiException"/> naming the file when a certificate is not a self-signed CA.
    /// <para>
    /// The extra roots come from a ConfigMap that more people can write than the CA keys' Secrets. An extra root that
    /// would vouch for <paramref name="trustDomain"/> (unmarked, or marked <c>spiffe://{trust-domain}</c>: see
    /// <see cref="TrustDomainBinding"/>) could sign any identity of ours, so it is left out (and said so in
    /// <see cref="GatheredRoots.LeftOut"/>) unless a root rotation is in progress — two or more distinct roots in
    /// <paramref name="rootDirectories"/>, which only the published manifests set — or
    /// <paramref name="allowExtraRootsForTrustDomain"/> says so. Roots marked for other trust domains (federation)
    /// always enter: they vouch only for theirs.
    /// </para>
    /// </summary>
    public static GatheredRoots Gather(IEnumerable<string> rootDirectories, string? extraRootsFile, string? trustDomain = null, bool allowExtraRootsForTrustDomain = false)
    {
        var own = new List<BundleRoot>();
        foreach (var directory in rootDirectories)
        {
            var bundlePath = Path.Combine(directory, CredentialFiles.BundleFileName);
            var (source, certificates) = HoldsText(bundlePath)
                ? (bundlePath, MountedCa.ReadCertificates(bundlePath, "its roots"))
                : (Path.Combine(directory, CredentialFiles.CertificateFileName), MountedCa.ReadCertificates(Path.Combine(directory, CredentialFiles.CertificateFileName), "the root's certificate")[..1]);
            own.AddRange(RequireRoots(certificates, source));
        }

        var roots = new List<BundleRoot>(own);
        var leftOut = new List<string>();
        if (extraRootsFile is not null && HoldsText(extraRootsFile))
        {
            if (trustDomain is null)
            {
                throw new PkiException($"{extraRootsFile}: extra roots need the trust domain (--trust-domain), to tell a root that would vouch for it from another trust domain's.");
            }

            var ownThumbprints = own.Select(r => r.Thumbprint).ToHashSet(StringComparer.Ordinal);
            var rotating = ownThumbprints.Count > 1;
            foreach (var extra in RequireRoots(MountedCa.ReadCertificates(extraRootsFile, "extra roots"), extraRootsFile))
            {
                if (ownThumbprints.Contains(extra.Thumbprint) || rotating || allowExtraRootsForTrustDomain || !extra.Certificate.VouchesFor(trustDomain))
                {
                    roots.Add(extra);
                    continue;
                }

                var marks = extra.Certificate.MarkedTrustDomains();
                leftOut.Add(
                    $"{extraRootsFile}: the extra root '{extra.Certificate.Subject}' (SHA-256 {extra.Thumbprint}) is left out of the bundle: it is " +
                    (marks.Count == 0 ? "unmarked (no URI SAN spiffe://{trust-domain})" : $"marked spiffe://{trustDomain}") +
                    $", so it would vouch for every identity of spiffe://{trustDomain}, and no root rotation is in progress (one root given with --root). " +
                    "Mark another trust domain's root with its own URI SAN spiffe://{its-domain}; to trust one of ours from this ConfigMap, publish with " +
                    "--allow-extra-roots-for-trust-domain (Kubernetes setting AllowExtraRootsForTrustDomain)");
            }
        }

        return new GatheredRoots([.. roots.DistinctBy(r => r.Thumbprint).OrderBy(r => r.Certificate.NotBefore.ToUniversalTime()).ThenBy(r => r.Thumbprint, StringComparer.Ordinal)], leftOut);
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
