using System.Security.Cryptography.X509Certificates;

namespace MtlsAspire.CertBootstrap.Doctor;

/// <summary>
/// A <see cref="System.Net.Security.LocalCertificateSelectionCallback"/> that never presents a certificate but notes
/// whether the server asked for one (.NET calls it a second time, with the server's certificate, when a
/// CertificateRequest arrives) and which issuers the server said it accepts.
/// </summary>
internal sealed class CertificateRequestObserver
{
    /// <summary>True when the server sent a CertificateRequest.</summary>
    public bool Requested { get; private set; }

    /// <summary>The distinguished names of the CertificateRequest's certificate_authorities (often empty: .NET servers send none by default).</summary>
    public IReadOnlyList<string> AcceptableIssuers { get; private set; } = [];

    /// <summary>The callback: records, and selects nothing.</summary>
    public X509Certificate Select(object sender, string targetHost, X509CertificateCollection localCertificates, X509Certificate? remoteCertificate, string[] acceptableIssuers)
    {
        if (remoteCertificate is not null)
        {
            Requested = true;
            AcceptableIssuers = acceptableIssuers;
        }

        return null!; // no certificate: the observer only listens
    }
}
