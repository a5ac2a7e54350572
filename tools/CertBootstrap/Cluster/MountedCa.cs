using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Certificates;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Cluster;

/// <summary>
/// A CA whose certificate and key cert-manager keeps in a Secret, mounted as a directory: <c>tls.crt</c> (the CA's own
/// certificate first, then its chain), <c>tls.key</c>, optionally <c>ca.crt</c>. The files may be symbolic links (as
/// Kubernetes mounts them, <c>tls.crt -> ..data/tls.crt</c>); they are read through them.
/// </summary>
public sealed class MountedCa : IDisposable
{
    private MountedCa(string directory, X509Certificate2 certificate, IReadOnlyList<X509Certificate2> chain)
    {
        Directory = directory;
        Certificate = certificate;
        Chain = chain;
    }

    /// <summary>The mounted directory.</summary>
    public string Directory { get; }

    /// <summary>The CA's certificate, carrying its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The certificates after the CA's own in <c>tls.crt</c> (its issuers).</summary>
    public IReadOnlyList<X509Certificate2> Chain { get; }

    /// <summary>
    /// Loads the CA of <paramref name="directory"/> to sign CRLs with. Throws <see cref="PkiException"/> naming the file
    /// when the certificate is not a CA that may sign CRLs or the key is not its own.
    /// </summary>
    public static MountedCa Load(string directory)
    {
        var certificatePath = Path.Combine(directory, CredentialFiles.CertificateFileName);
        var keyPath = Path.Combine(directory, CredentialFiles.KeyFileName);
        var certificates = ReadCertificates(certificatePath, what: "the CA's certificate");
        var certificate = certificates[0];
        if (!certificate.IsCertificateAuthority())
        {
            throw new PkiException($"{certificatePath}: '{certificate.Subject}' is not a CA (no basicConstraints CA:true), so it cannot sign a CRL: --ca takes the Secret of a CA (a cert-manager Certificate with isCA: true).");
        }

        if (certificate.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault() is { } usage &&
            !usage.KeyUsages.HasFlag(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign))
        {
            // cert-manager gives a CA 'cert sign' but not 'crl sign' unless spec.usages asks for it; verifiers refuse such CRLs.
            throw new PkiException($"{certificatePath}: the CA '{certificate.Subject}' has key usage {usage.KeyUsages} without both keyCertSign and cRLSign, so the CRLs it signs would be refused: " +
                "list 'cert sign' and 'crl sign' in the cert-manager Certificate's spec.usages.");
        }

        if (certificate.GetSubjectKeyIdentifier() is null)
        {
            throw new PkiException($"{certificatePath}: the CA '{certificate.Subject}' has no subjectKeyIdentifier, which its CRLs' authority key identifier names.");
        }

        string keyPem;
        try
        {
            keyPem = File.ReadAllText(keyPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PkiException($"Cannot read the CA key {keyPath}: {e.Message}", e);
        }

        using var key = PrivateKeys.Import(keyPem, passphrase: null, keyPath);
        if (!certificate.PublicKeyMatches(key))
        {
            throw new PkiException($"{keyPath} does not match the CA certificate '{certificate.Subject}' in {certificatePath}.");
        }

        var withKey = PrivateKeys.AttachTo(certificate, key);
        certificate.Dispose();
        return new MountedCa(directory, withKey, certificates[1..]);
    }

    /// <summary>Every certificate of <paramref name="path"/>; throws <see cref="PkiException"/> saying what should be there when it is missing.</summary>
    internal static List<X509Certificate2> ReadCertificates(string path, string what)
    {
        if (!File.Exists(path))
        {
            throw new PkiException($"{path} does not exist: a mounted CA Secret holds {what} there.");
        }

        try
        {
            return Pem.ReadCertificates(File.ReadAllText(path), path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PkiException($"Cannot read {path}: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Certificate.Dispose();
        foreach (var certificate in Chain)
        {
            certificate.Dispose();
        }
    }
}
