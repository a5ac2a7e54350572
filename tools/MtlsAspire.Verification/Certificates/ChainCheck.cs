using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Revocation;

namespace MtlsAspire.Verification.Certificates;

/// <summary>What kind of problem a chain has, most decisive first.</summary>
public enum ChainFailure
{
    /// <summary>The chain ends at a root (or an issuer) the trust bundle does not hold.</summary>
    UnknownCa,

    /// <summary>An intermediate was not sent and is not known, so the chain cannot be built.</summary>
    IncompleteChain,

    /// <summary>A certificate's notAfter has passed.</summary>
    Expired,

    /// <summary>A certificate's notBefore is still ahead.</summary>
    NotYetValid,

    /// <summary>A certificate is listed in its issuer's CRL.</summary>
    Revoked,

    /// <summary>The leaf lacks a required extended key usage (clientAuth or serverAuth).</summary>
    WrongUsage,

    /// <summary>A signature does not verify, or a CA's constraints are broken.</summary>
    Invalid,

    /// <summary>Revocation cannot be decided: no CRL from the issuer, or only a stale one.</summary>
    RevocationUnknown,
}

/// <summary>One problem of a chain: its kind, and words a person reads at 3 AM.</summary>
/// <param name="Kind">The kind.</param>
/// <param name="Message">Which certificate, which time, which issuer.</param>
public sealed record ChainProblem(ChainFailure Kind, string Message);

/// <summary>
/// The verdict on a certificate chain against a trust bundle and CRLs, with every problem in words a person reads
/// at 3 AM (which certificate, which time, which issuer).
/// </summary>
/// <param name="IsValid">True when the chain builds to a trusted root, every usage is present, every date is in range and nothing is revoked.</param>
/// <param name="Path">The chain as built, leaf first.</param>
/// <param name="Failures">Each problem found, with its kind; empty when valid.</param>
/// <param name="Revocation">For each non-root element of <paramref name="Path"/>, the revocation check against its issuer's CRL.</param>
public sealed record ChainCheck(bool IsValid, IReadOnlyList<X509Certificate2> Path, IReadOnlyList<ChainProblem> Failures, IReadOnlyList<RevocationCheck> Revocation)
{
    /// <summary>Each problem in words; empty when valid.</summary>
    public IReadOnlyList<string> Problems => [.. Failures.Select(f => f.Message)];

    /// <summary>The most decisive problem, or null when the chain is valid.</summary>
    public ChainProblem? Failure => Failures.OrderBy(f => f.Kind).FirstOrDefault();

    /// <summary>
    /// Builds and judges the chain of <paramref name="leaf"/> at <paramref name="at"/>. Unless <paramref name="revocation"/>
    /// is <see cref="RevocationSet.Empty"/> (revocation not checked), every certificate below the root must be covered by
    /// a current CRL of its issuer: a missing or stale CRL is a problem (<see cref="ChainFailure.RevocationUnknown"/>).
    /// </summary>
    public static ChainCheck Verify(X509Certificate2 leaf, IEnumerable<X509Certificate2> intermediates, IEnumerable<X509Certificate2> trustedRoots,
        RevocationSet revocation, DateTimeOffset at, params string[] requiredUsages) =>
        Verify(leaf, intermediates, trustedRoots, revocation, at, allowStaleCrl: false, requiredUsages);

    /// <summary>As <see cref="Verify(X509Certificate2, IEnumerable{X509Certificate2}, IEnumerable{X509Certificate2}, RevocationSet, DateTimeOffset, string[])"/>, optionally accepting stale CRLs.</summary>
    public static ChainCheck Verify(X509Certificate2 leaf, IEnumerable<X509Certificate2> intermediates, IEnumerable<X509Certificate2> trustedRoots,
        RevocationSet revocation, DateTimeOffset at, bool allowStaleCrl, params string[] requiredUsages)
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
        var problems = new List<ChainProblem>();
        foreach (var element in chain.ChainElements)
        {
            foreach (var status in element.ChainElementStatus)
            {
                problems.Add(Describe(status, element.Certificate, path, at, requiredUsages));
            }
        }

        if (!built && problems.Count == 0)
        {
            problems.AddRange(chain.ChainStatus.Select(s => new ChainProblem(ChainFailure.Invalid, $"{s.Status}: {s.StatusInformation.Trim()}")));
        }

        // Only a chain that built to a trusted root, every signature verified, says who the issuers are: any other path is
        // not checked against CRLs, nor does it make the revocation set verify CRLs against issuers an attacker made up (a
        // forged intermediate bearing the name of a real one reaches the root by name, with a signature that does not
        // verify). An expired or a wrong-usage chain is still checked, so that its revocation is reported too.
        var trusted = built || chain.ChainStatus.All(status => status.Status is X509ChainStatusFlags.NoError
            or X509ChainStatusFlags.NotTimeValid or X509ChainStatusFlags.NotTimeNested or X509ChainStatusFlags.NotValidForUsage);
        return Complete(built, trusted, path, problems, revocation, at, allowStaleCrl);
    }

    /// <summary>
    /// The verdict <see cref="Verify(X509Certificate2, IEnumerable{X509Certificate2}, IEnumerable{X509Certificate2}, RevocationSet, DateTimeOffset, bool, string[])"/>
    /// would give, taken from a chain already built for <paramref name="leaf"/> (SslStream builds one before its validation
    /// callback) instead of building a second one; or null when that chain cannot stand for ours. It stands only when it
    /// built with no problem at all, trusting only custom roots of which its root is one of <paramref name="trustedRoots"/>,
    /// requiring every one of <paramref name="requiredUsages"/>, and when every element is in its validity period at
    /// <paramref name="at"/> too (it was judged on the system clock; the dates count on ours). What a clean build does not
    /// cover, the CRLs, is checked here as <c>Verify</c> checks it. On null, call <c>Verify</c>: every refusal and its
    /// words come from there.
    /// </summary>
    public static ChainCheck? FromBuiltChain(X509Chain built, X509Certificate2 leaf, IEnumerable<X509Certificate2> trustedRoots,
        RevocationSet revocation, DateTimeOffset at, bool allowStaleCrl, params string[] requiredUsages)
    {
        var elements = built.ChainElements;
        var policy = built.ChainPolicy;
        if (elements.Count < 2 || policy.TrustMode != X509ChainTrustMode.CustomRootTrust
            || !requiredUsages.All(usage => policy.ApplicationPolicy.Cast<System.Security.Cryptography.Oid>().Any(oid => oid.Value == usage))
            || built.ChainStatus.Any(status => status.Status != X509ChainStatusFlags.NoError))
        {
            return null;
        }

        var path = new List<X509Certificate2>(elements.Count);
        var when = at.UtcDateTime;
        foreach (var element in elements)
        {
            var certificate = element.Certificate;
            if (element.ChainElementStatus.Any(status => status.Status != X509ChainStatusFlags.NoError)
                || when < certificate.NotBefore.ToUniversalTime() || when > certificate.NotAfter.ToUniversalTime())
            {
                return null;
            }

            path.Add(certificate);
        }

        var root = path[^1].RawDataMemory;
        if (!path[0].RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span) || !trustedRoots.Any(r => r.RawDataMemory.Span.SequenceEqual(root.Span)))
        {
            return null;
        }

        return Complete(built: true, trusted: true, path, [], revocation, at, allowStaleCrl);
    }

    /// <summary>The CRL check of every non-root element of a chain, and the verdict with the problems found before it.</summary>
    private static ChainCheck Complete(bool built, bool trusted, List<X509Certificate2> path, List<ChainProblem> problems, RevocationSet revocation,
        DateTimeOffset at, bool allowStaleCrl)
    {
        var revocationChecks = new List<RevocationCheck>();
        for (var i = 0; trusted && i + 1 < path.Count; i++)
        {
            var check = revocation.Check(path[i], path[i + 1], at);
            revocationChecks.Add(check);
            if (ReferenceEquals(revocation, RevocationSet.Empty))
            {
                continue;
            }

            if (check.Status == RevocationStatus.NoCrl && built)
            {
                problems.Add(new ChainProblem(ChainFailure.RevocationUnknown,
                    $"no CRL from '{path[i + 1].Subject}' verifies, so '{path[i].Subject}' cannot be checked for revocation"));
            }
            else if (check.Status == RevocationStatus.StaleCrl && !allowStaleCrl && built)
            {
                problems.Add(new ChainProblem(ChainFailure.RevocationUnknown, string.Create(CultureInfo.InvariantCulture,
                    $"the CRL of '{path[i + 1].Subject}' is stale: its next update was due {check.Crl!.NextUpdate:u}, now {at.UtcDateTime:u}")));
            }
            else if (check.Status == RevocationStatus.Revoked)
            {
                var entry = check.Entry!;
                var since = string.Create(CultureInfo.InvariantCulture,
                    $"since {entry.RevokedAt:u}, reason {ReasonName(entry.Reason)}, per CRL #{check.Crl!.Number} of '{check.Crl.Issuer.Name}'");
                problems.Add(new ChainProblem(ChainFailure.Revoked, i == 0
                    ? $"'{path[i].Subject}' (serial {path[i].SerialNumber}) is revoked {since}"
                    : $"the intermediate CA '{path[i].Subject}' (serial {path[i].SerialNumber}, position {i} in the chain: {PositionName(i)}) is revoked {since}; every certificate it signed is refused"));
            }
        }

        return new ChainCheck(built && problems.Count == 0, path, problems.Distinct().ToList(), revocationChecks);
    }

    /// <summary>Who the CA at <paramref name="position"/> of a chain (0 = the leaf) is, in words.</summary>
    private static string PositionName(int position) => position == 1
        ? "the leaf's issuer"
        : string.Create(CultureInfo.InvariantCulture, $"the issuer of the CA at position {position - 1}");

    /// <summary>The RFC 5280 name of a revocation reason, e.g. keyCompromise.</summary>
    public static string ReasonName(X509RevocationReason? reason) => reason switch
    {
        null => "unspecified",
        var r => char.ToLowerInvariant(r.Value.ToString()[0]) + r.Value.ToString()[1..],
    };

    private static ChainProblem Describe(X509ChainStatus status, X509Certificate2 certificate, List<X509Certificate2> path, DateTimeOffset at, string[] usages)
    {
        var who = $"'{certificate.Subject}'";
        var inv = CultureInfo.InvariantCulture;
        return status.Status switch
        {
            X509ChainStatusFlags.NotTimeValid when at < certificate.NotBefore.ToUniversalTime() => new(ChainFailure.NotYetValid, string.Create(inv,
                $"{who} is not valid yet: notBefore {certificate.NotBefore.ToUniversalTime():u}, now {at.UtcDateTime:u} ({Durations.Describe(certificate.NotBefore.ToUniversalTime() - at.UtcDateTime)} early, beyond the issuer's clock-skew allowance)")),
            X509ChainStatusFlags.NotTimeValid => new(ChainFailure.Expired, string.Create(inv,
                $"{who} expired: notAfter {certificate.NotAfter.ToUniversalTime():u}, now {at.UtcDateTime:u} ({Durations.Describe(at.UtcDateTime - certificate.NotAfter.ToUniversalTime())} ago)")),
            X509ChainStatusFlags.UntrustedRoot => new(ChainFailure.UnknownCa,
                $"unknown CA: the chain ends at the root '{path[^1].Subject}', which the trust bundle does not hold"),
            X509ChainStatusFlags.PartialChain when path[^1].IsCertificateAuthority() => new(ChainFailure.UnknownCa,
                $"unknown CA: the chain ends at '{path[^1].Subject}', whose issuer '{path[^1].Issuer}' the trust bundle does not hold"),
            X509ChainStatusFlags.PartialChain => new(ChainFailure.IncompleteChain,
                $"incomplete chain: the issuer '{path[^1].Issuer}' of '{path[^1].Subject}' was not sent and is not in the trust bundle"),
            X509ChainStatusFlags.NotValidForUsage => new(ChainFailure.WrongUsage,
                $"{who} lacks the required extended key usage ({string.Join(", ", usages.Select(UsageName))}); it has {DescribeUsages(certificate)}"),
            X509ChainStatusFlags.NotSignatureValid => new(ChainFailure.Invalid, $"{who} has a signature that does not verify with its issuer's key"),
            X509ChainStatusFlags.InvalidBasicConstraints => new(ChainFailure.Invalid, $"{who} is used as a CA but is not allowed to issue certificates (basic constraints / path length)"),
            _ => new(ChainFailure.Invalid, $"{who}: {status.Status} ({status.StatusInformation.Trim()})"),
        };
    }

    private static string DescribeUsages(X509Certificate2 certificate) =>
        certificate.GetExtendedKeyUsages() is { Count: > 0 } usages ? string.Join(", ", usages.Select(UsageName)) : "no extended key usage";

    /// <summary>A readable name for an EKU OID.</summary>
    public static string UsageName(string oid) => oid switch
    {
        CertificateFacts.ServerAuthOid => "serverAuth",
        CertificateFacts.ClientAuthOid => "clientAuth",
        _ => oid,
    };
}
