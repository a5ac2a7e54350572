using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MtlsAspire.Verification;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Inspection;

/// <summary>
/// What <c>inspect</c> prints: every certificate in a file, the chain against a bundle and the revocation status,
/// in words a person reads at 3 AM; <see cref="Problem"/> is the one-line reason when the certificate is not good.
/// </summary>
/// <param name="Text">The report.</param>
/// <param name="Problem">Null when the first certificate is valid (and trusted and not revoked, when a bundle/CRL was given).</param>
public sealed record CertificateReport(string Text, string? Problem)
{
    /// <summary>Inspects <paramref name="file"/>. A ca.crt / crl.pem beside it are used when no bundle / CRL file is named.</summary>
    public static CertificateReport Create(string file, string? bundleFile, string? crlFile, DateTimeOffset now)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(file))!;
        bundleFile ??= Beside(directory, CredentialFiles.BundleFileName, file);
        crlFile ??= Beside(directory, CredentialFiles.CrlFileName, file);

        var certificates = Pem.ReadCertificates(ReadFile(file), file);
        var text = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        for (var i = 0; i < certificates.Count; i++)
        {
            var c = certificates[i];
            var role = c.IsCertificateAuthority() ? "CA" : "leaf";
            text.AppendLine(inv, $"{Path.GetFileName(file)}: certificate {i + 1} of {certificates.Count} ({role})");
            Line(text, "Subject", c.Subject);
            if (!c.IsCertificateAuthority())
            {
                var id = c.GetSpiffeId(out var identityProblem);
                Line(text, "SPIFFE ID", id.IsEmpty ? $"none: {identityProblem}" : id.ToString());
                Line(text, "DNS names", Join(c.GetDnsNames()));
                Line(text, "IP addresses", Join(c.GetIPAddresses().Select(a => a.ToString())));
            }

            Line(text, "Issuer", c.Issuer);
            Line(text, "Serial", c.SerialNumber);
            Line(text, "Key", c.DescribeKey());
            Line(text, "Key usage", c.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault()?.KeyUsages.ToString() ?? "(none)");
            if (!c.IsCertificateAuthority())
            {
                Line(text, "Extended usage", Join(c.GetExtendedKeyUsages().Select(ChainCheck.UsageName)));
            }
            else if (c.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is { HasPathLengthConstraint: true } constraints)
            {
                Line(text, "Path length", constraints.PathLengthConstraint.ToString(inv));
            }

            Line(text, "Valid from", $"{c.NotBefore.ToUniversalTime():u} ({Relative(c.NotBefore.ToUniversalTime(), now)})");
            var notAfter = c.NotAfter.ToUniversalTime();
            Line(text, "Valid until", $"{notAfter:u} ({(notAfter >= now ? $"{Durations.Describe(notAfter - now)} left" : $"EXPIRED {Durations.Describe(now - notAfter)} ago")})");
        }

        var leaf = certificates[0];
        var problems = new List<string>();
        if (now < leaf.NotBefore.ToUniversalTime())
        {
            problems.Add($"not valid yet: notBefore {leaf.NotBefore.ToUniversalTime():u}, now {now.UtcDateTime:u}");
        }
        else if (now > leaf.NotAfter.ToUniversalTime())
        {
            problems.Add($"expired: notAfter {leaf.NotAfter.ToUniversalTime():u}, now {now.UtcDateTime:u} ({Durations.Describe(now.UtcDateTime - leaf.NotAfter.ToUniversalTime())} ago)");
        }

        if (bundleFile is null)
        {
            Line(text, "Chain", "not checked (no --bundle, and no ca.crt beside the file)");
        }
        else
        {
            var roots = Pem.ReadCertificates(ReadFile(bundleFile), bundleFile);
            var revocation = crlFile is null ? RevocationSet.Empty : RevocationSet.Load(ReadFile(crlFile), [.. roots, .. certificates.Skip(1)], crlFile);
            var check = ChainCheck.Verify(leaf, certificates.Skip(1), roots, revocation, now);
            Line(text, "Chain", check.IsValid || check.Problems.All(p => p.Contains("revoked", StringComparison.Ordinal))
                ? $"builds to a trusted root of {bundleFile}: {string.Join(" → ", check.Path.Select(ShortName))}"
                : $"NOT trusted by {bundleFile}");
            foreach (var problem in check.Problems)
            {
                Line(text, string.Empty, "- " + problem);
            }

            problems.AddRange(check.Problems);
            // As a peer of the leaf's own trust domain judges it (TrustDomainBinding): a root bound to other trust domains cannot vouch for it.
            if (check.Path.Count >= 2 && leaf.GetSpiffeId(out _) is { IsEmpty: false } identity)
            {
                var root = check.Path[^1];
                var marks = root.MarkedTrustDomains();
                Line(text, "Trust domain", marks.Count == 0
                    ? $"the root is unmarked: it vouches for {identity.TrustDomain} as the bundle's trust domain"
                    : $"the root is bound to {string.Join(", ", marks.Select(t => $"spiffe://{t}"))}");
                if (TrustDomainBinding.Refusal(leaf, identity, root, identity.TrustDomain) is { } refusal)
                {
                    problems.Add(refusal);
                }
            }

            Line(text, "Revocation", crlFile is null ? "not checked (no --crl, and no crl.pem beside the file)" : DescribeRevocation(check, now, crlFile));
        }

        var verdict = problems.Count == 0 ? null : problems.Distinct().First();
        Line(text, "Verdict", verdict is null ? "OK" : $"NOT VALID: {verdict}");
        return new CertificateReport(text.ToString(), verdict);
    }

    private static string DescribeRevocation(ChainCheck check, DateTimeOffset now, string crlFile)
    {
        if (check.Revocation.Count == 0)
        {
            return "not checked (the chain did not build)";
        }

        var leaf = check.Revocation[0];
        return leaf.Status switch
        {
            RevocationStatus.Good => string.Create(CultureInfo.InvariantCulture,
                $"not revoked (CRL #{leaf.Crl!.Number} of '{ShortName(leaf.Crl.VerifiedIssuer)}', signed {Relative(leaf.Crl.ThisUpdate, now)}, next update {Relative(leaf.Crl.NextUpdate ?? now, now)})"),
            RevocationStatus.StaleCrl => $"not listed, but the CRL is stale: its next update was due {leaf.Crl!.NextUpdate:u}",
            RevocationStatus.Revoked => $"REVOKED since {leaf.Entry!.RevokedAt:u} ({Relative(leaf.Entry.RevokedAt, now)}), reason {ChainCheck.ReasonName(leaf.Entry.Reason)}",
            _ => $"unknown: {crlFile} has no CRL that verifies with the issuer '{ShortName(check.Path[1])}'",
        };
    }

    private static string? Beside(string directory, string name, string file)
    {
        var path = Path.Combine(directory, name);
        return File.Exists(path) && Path.GetFullPath(path) != Path.GetFullPath(file) ? path : null;
    }

    private static string ReadFile(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"Cannot read {path}: {e.Message}", e);
        }
    }

    private static string ShortName(X509Certificate2 c) => c.GetNameInfo(X509NameType.SimpleName, false) is { Length: > 0 } cn ? cn : c.Subject;

    private static string Join(IEnumerable<string> values) => values.ToList() is { Count: > 0 } list ? string.Join(", ", list) : "(none)";

    private static string Relative(DateTimeOffset at, DateTimeOffset now) =>
        at >= now ? $"in {Durations.Describe(at - now)}" : $"{Durations.Describe(now - at)} ago";

    private static void Line(StringBuilder text, string label, string value) =>
        text.Append("  ").Append(label.PadRight(16)).AppendLine(value);
}
