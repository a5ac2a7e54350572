using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.Verification.Storage;

/// <summary>
/// A service's credentials parsed from its four files: the leaf with its private key, the intermediates it sends,
/// the trusted roots and the CRLs. Parsing refuses a key that does not match the certificate.
/// </summary>
public sealed class ServiceCredentials : IDisposable
{
    private ServiceCredentials(X509Certificate2 leaf, X509Certificate2Collection intermediates, X509Certificate2Collection trustedRoots,
        RevocationSet revocation, SpiffeId spiffeId)
    {
        Leaf = leaf;
        Intermediates = intermediates;
        TrustedRoots = trustedRoots;
        Revocation = revocation;
        SpiffeId = spiffeId;
    }

    /// <summary>The leaf certificate, with its private key.</summary>
    public X509Certificate2 Leaf { get; }

    /// <summary>The certificates after the leaf in tls.crt (its intermediate).</summary>
    public X509Certificate2Collection Intermediates { get; }

    /// <summary>The roots of ca.crt.</summary>
    public X509Certificate2Collection TrustedRoots { get; }

    /// <summary>The CRLs of crl.pem.</summary>
    public RevocationSet Revocation { get; }

    /// <summary>The leaf's SPIFFE ID.</summary>
    public SpiffeId SpiffeId { get; }

    /// <summary>Reads and parses the current generation of <paramref name="directory"/>.</summary>
    public static ServiceCredentials Load(CredentialDirectory directory) => Parse(directory.Read(), directory);

    /// <summary>Parses a set of files read from <paramref name="directory"/>, naming each file where it was read from.</summary>
    public static ServiceCredentials Parse(CredentialFiles files, CredentialDirectory directory) =>
        Parse(files, directory.Path, directory.BundleSource, directory.CrlSource);

    /// <summary>
    /// Parses a set of files. Throws <see cref="InvalidDataException"/> naming the file and the problem when a file is
    /// damaged, the key does not match the certificate, the leaf has no SPIFFE ID or a CRL does not verify. Files are
    /// named as in <paramref name="source"/>, the bundle and CRL as <paramref name="bundleSource"/> and
    /// <paramref name="crlSource"/> when they were read from elsewhere.
    /// </summary>
    public static ServiceCredentials Parse(CredentialFiles files, string source, string? bundleSource = null, string? crlSource = null)
    {
        var certificateSource = System.IO.Path.Combine(source, CredentialFiles.CertificateFileName);
        var keySource = System.IO.Path.Combine(source, CredentialFiles.KeyFileName);
        var chain = Pem.ReadCertificates(files.CertificatePem, certificateSource);
        var roots = Pem.ReadCertificates(files.BundlePem, bundleSource ?? System.IO.Path.Combine(source, CredentialFiles.BundleFileName));

        X509Certificate2 leaf;
        try
        {
            leaf = X509Certificate2.CreateFromPem(files.CertificatePem, files.KeyPem);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or PlatformNotSupportedException)
        {
            // The exception text of a key parse never includes key material; still, say only what the reader needs.
            // PlatformNotSupportedException: a PKCS#8 key naming a curve OpenSSL does not know (found by fuzz/run.sh).
            var problem = e switch
            {
                PlatformNotSupportedException => "names a key type or curve this platform does not support (damaged, or not one we issue)",
                ArgumentException => "does not match the certificate in tls.crt",
                _ when e.Message.Contains("match", StringComparison.OrdinalIgnoreCase) => "does not match the certificate in tls.crt",
                _ => "is damaged, truncated or not a PKCS#8 PEM private key",
            };
            throw new InvalidDataException($"{keySource} {problem}.", e);
        }

        var spiffeId = leaf.GetSpiffeId(out var identityProblem);
        if (spiffeId.IsEmpty)
        {
            leaf.Dispose();
            throw new InvalidDataException($"{certificateSource}: the leaf has {identityProblem}.");
        }

        var intermediates = new X509Certificate2Collection(chain.Skip(1).ToArray());
        RevocationSet revocation;
        try
        {
            revocation = RevocationSet.Load(files.CrlPem, [.. roots, .. intermediates], crlSource ?? System.IO.Path.Combine(source, CredentialFiles.CrlFileName));
        }
        catch (CryptographicException e)
        {
            leaf.Dispose();
            throw new InvalidDataException(e.Message, e);
        }

        return new ServiceCredentials(leaf, intermediates, new X509Certificate2Collection(roots.ToArray()), revocation, spiffeId);
    }

    /// <summary>
    /// Builds the leaf's chain to one of <see cref="TrustedRoots"/> (custom root trust only, no system store) at
    /// <paramref name="at"/>, requiring <paramref name="requiredUsages"/> (EKU OIDs).
    /// </summary>
    public ChainCheck VerifyChain(DateTimeOffset at, params string[] requiredUsages) =>
        ChainCheck.Verify(Leaf, Intermediates, TrustedRoots, Revocation, at, requiredUsages);

    /// <summary>
    /// What these credentials are, as a service reports them on <c>/mtls/status</c>: public certificate data only.
    /// </summary>
    /// <param name="generation">The generation number the service gave them.</param>
    /// <param name="loadedAt">When the service swapped them in.</param>
    /// <param name="expiry">The leaf's expiry verdict (<see cref="ExpiryPolicy.Evaluate"/>).</param>
    public CredentialStatus Status(long generation, DateTimeOffset loadedAt, ExpiryStatus expiry) => new(
        SpiffeId.ToString(),
        generation,
        loadedAt,
        LeafStatus.Of(Leaf, Intermediates),
        BundleStatus.Of(TrustedRoots),
        Revocation.Loaded,
        expiry);

    /// <inheritdoc />
    public void Dispose()
    {
        Leaf.Dispose();
        foreach (var certificate in Intermediates.Concat(TrustedRoots))
        {
            certificate.Dispose();
        }
    }
}
