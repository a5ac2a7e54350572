using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
using MtlsAspire.Verification.Revocation;

namespace MtlsAspire.CertBootstrap.Doctor;

/// <summary>
/// The doctor's <see cref="RemoteCertificateValidationCallback"/>: judges the server's chain with the project's own
/// verifier (<see cref="ChainCheck"/> against the bundle and CRL, on the injected clock, serverAuth required) and the
/// host name, and the trust-domain binding as our services apply it (a root bound to another trust domain cannot vouch
/// for an ID of <paramref name="trustDomain"/>, ours; without one, the server's own), remembers what it saw, and accepts
/// only a valid verdict.
/// </summary>
internal sealed class ServerCertificateJudge(IReadOnlyList<X509Certificate2> roots, RevocationSet revocation, TimeProvider time, string? trustDomain)
{
    /// <summary>True once the server's certificate arrived (the handshake got that far).</summary>
    public bool Ran { get; private set; }

    /// <summary>The server's leaf, when it sent one.</summary>
    public X509Certificate2? Leaf { get; private set; }

    /// <summary>The certificates the server sent after its leaf.</summary>
    public IReadOnlyList<X509Certificate2> Sent { get; private set; } = [];

    /// <summary>The chain verdict.</summary>
    public ChainCheck? Check { get; private set; }

    /// <summary>When the verdict was reached, on the injected clock.</summary>
    public DateTimeOffset CheckedAt { get; private set; }

    /// <summary>True when the host asked for is not among the certificate's SANs (.NET's RFC 6125 check).</summary>
    public bool NameMismatch { get; private set; }

    /// <summary>Why the server's SPIFFE ID may not speak for the trust domain on the chain it built (TrustDomainBinding), or null.</summary>
    public string? TrustDomainMismatch { get; private set; }

    /// <summary>True when the server's certificate was accepted.</summary>
    public bool Accepted => Check?.IsValid == true && !NameMismatch && TrustDomainMismatch is null;

    /// <summary>The callback: true only when the chain verdict is valid, the name matches and the root may vouch for the server's ID.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        Ran = true;
        if (certificate is null)
        {
            return false;
        }

        Leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var leafThumbprint = Leaf.Thumbprint;
        Sent = chain is null
            ? []
            : [.. chain.ChainPolicy.ExtraStore.Where(c => c.Thumbprint != leafThumbprint).Select(c => X509CertificateLoader.LoadCertificate(c.RawData))];
        CheckedAt = time.GetUtcNow();
        // .NET's own chain status (RemoteCertificateChainErrors) is ignored: it judges against the system store, we
        // against the project's bundle and CRL. Its host-name check is kept.
        Check = ChainCheck.Verify(Leaf, Sent, roots, revocation, CheckedAt, CertificateFacts.ServerAuthOid);
        NameMismatch = errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch);
        TrustDomainMismatch = Check.IsValid && Check.Path.Count >= 2 && Leaf.GetSpiffeId(out _) is { IsEmpty: false } identity
            ? TrustDomainBinding.Refusal(Leaf, identity, Check.Path[^1], trustDomain ?? identity.TrustDomain)
            : null;
        return Accepted;
    }
}
