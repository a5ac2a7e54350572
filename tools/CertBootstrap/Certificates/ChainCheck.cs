using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Revocation;

namespace MtlsAspire.CertBootstrap.Certificates;

/// <summary>
/// The verdict on a certificate chain against a trust bundle and CRLs, with every problem in words a person reads
/// at 3 AM (which certificate, which time, which issuer).
/// </summary>
/// <param name="IsValid">True when the chain builds to a trusted root, every usage is present, every date is in range and nothing is revoked.</param>
/// <param name="Path">The chain as built, leaf first.</param>
/// <param name="Problems">Each problem found, in words; empty when valid.</param>
/// <param name="Revocation">For each non-root element of <paramref name="Path"/>, the revocation check against its issuer's CRL.</param>
public sealed record ChainCheck(bool IsValid, IReadOnlyList<X509Certificate2> Path, IReadOnlyList<string> Problems, IReadOnlyList<RevocationCheck> Revocation)
{
    /// <summary>Builds and judges the chain of <paramref name="leaf"/> at <paramref name="at"/>.</summary>
    public static ChainCheck Verify(X509Certificate2 leaf, IEnumerable<X509Certificate2> intermediates, IEnumerable<X509Certificate2> trustedRoots,
        RevocationSet revocation, DateTimeOffset at, params string[] requiredUsages)
    {
        using var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        policy.CustomTrustStore.AddRange(trustedRoots.ToArray());
        policy.ExtraStore.AddRange(intermediates.ToArray());
        policy.RevocationMode = X509RevocationMode.NoCheck; // revocation comes from our own verified CRLs below
        policy.VerificationTime = at.UtcDateTime;
        policy.VerificationTimeIgnored = false;
        policy.DisableCertificateDownloads = true;
        foreach (var usage in requiredUsages)
        {
            policy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(usage));
        }

        var built = chain.Build(leaf);
        var path = chain.ChainElements.Select(e => e.Certificate).ToList();
        var problems = new List<string>();
        foreach (var element in chain.ChainElements)
        {
            foreach (var status in element.ChainElementStatus)
            {
                problems.Add(Describe(status, element.Certificate, path, at, requiredUsages));
            }
        }

        if (!built && problems.Count == 0)
        {
            problems.AddRange(chain.ChainStatus.Select(s => $"{s.Status}: {s.StatusInformation.Trim()}"));
        }

        var revocationChecks = new List<RevocationCheck>();
        for (var i = 0; i + 1 < path.Count; i++)
        {
            var check = revocation.Check(path[i], path[i + 1], at);
            revocationChecks.Add(check);
            if (check.Status == RevocationStatus.Revoked)
            {
                var entry = check.Entry!;
                problems.Add(string.Create(CultureInfo.InvariantCulture,
                    $"'{path[i].Subject}' (serial {path[i].SerialNumber}) is revoked since {entry.RevokedAt:u}, reason {ReasonName(entry.Reason)}, per CRL #{check.Crl!.Number} of '{check.Crl.Issuer.Name}'"));
            }
        }

        return new ChainCheck(built && problems.Count == 0, path, problems.Distinct().ToList(), revocationChecks);
    }

    /// <summary>The RFC 5280 name of a revocation reason, e.g. keyCompromise.</summary>
    public static string ReasonName(X509RevocationReason? reason) => reason switch
    {
        null => "unspecified",
        var r => char.ToLowerInvariant(r.Value.ToString()[0]) + r.Value.ToString()[1..],
    };

    private static string Describe(X509ChainStatus status, X509Certificate2 certificate, List<X509Certificate2> path, DateTimeOffset at, string[] usages)
    {
        var who = $"'{certificate.Subject}'";
        var inv = CultureInfo.InvariantCulture;
        return status.Status switch
        {
            X509ChainStatusFlags.NotTimeValid when at < certificate.NotBefore.ToUniversalTime() => string.Create(inv,
                $"{who} is not valid yet: notBefore {certificate.NotBefore.ToUniversalTime():u}, now {at.UtcDateTime:u} ({Durations.Describe(certificate.NotBefore.ToUniversalTime() - at.UtcDateTime)} early)"),
            X509ChainStatusFlags.NotTimeValid => string.Create(inv,
                $"{who} expired: notAfter {certificate.NotAfter.ToUniversalTime():u}, now {at.UtcDateTime:u} ({Durations.Describe(at.UtcDateTime - certificate.NotAfter.ToUniversalTime())} ago)"),
            X509ChainStatusFlags.UntrustedRoot =>
                $"unknown CA: the chain ends at the root '{path[^1].Subject}', which the trust bundle does not hold",
            X509ChainStatusFlags.PartialChain when path[^1].IsCertificateAuthority() =>
                $"unknown CA: the chain ends at '{path[^1].Subject}', whose issuer '{path[^1].Issuer}' the trust bundle does not hold",
            X509ChainStatusFlags.PartialChain =>
                $"incomplete chain: the issuer '{path[^1].Issuer}' of '{path[^1].Subject}' was not sent and is not in the trust bundle",
            X509ChainStatusFlags.NotValidForUsage =>
                $"{who} lacks the required extended key usage ({string.Join(", ", usages.Select(UsageName))})",
            X509ChainStatusFlags.NotSignatureValid => $"{who} has a signature that does not verify with its issuer's key",
            X509ChainStatusFlags.InvalidBasicConstraints => $"{who} is used as a CA but is not allowed to issue certificates (basic constraints / path length)",
            _ => $"{who}: {status.Status} ({status.StatusInformation.Trim()})",
        };
    }

    /// <summary>A readable name for an EKU OID.</summary>
    public static string UsageName(string oid) => oid switch
    {
        CertificateFacts.ServerAuthOid => "serverAuth",
        CertificateFacts.ClientAuthOid => "clientAuth",
        _ => oid,
    };
}
