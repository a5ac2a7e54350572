using System.Globalization;
using System.Numerics;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Revocation;

namespace MtlsAspire.CertBootstrap.Cluster;

/// <summary>
/// The list of revoked serials that <c>publish-cluster</c> signs into every CRL, one per line:
/// <c>SERIALHEX [REASON] [REVOKED-AT]</c>. <c>#</c> starts a comment; blank lines are ignored. The serial is hex, any
/// case, colons allowed; the reason an RFC 5280 name (default unspecified); the time ISO-8601 UTC (default: now).
/// An empty file is valid: nothing is revoked, and the CRLs are still signed.
/// </summary>
public static class RevokedSerialsFile
{
    private static readonly Dictionary<string, X509RevocationReason> s_reasons = new(StringComparer.OrdinalIgnoreCase)
    {
        ["unspecified"] = X509RevocationReason.Unspecified,
        ["keyCompromise"] = X509RevocationReason.KeyCompromise,
        ["cACompromise"] = X509RevocationReason.CACompromise,
        ["affiliationChanged"] = X509RevocationReason.AffiliationChanged,
        ["superseded"] = X509RevocationReason.Superseded,
        ["cessationOfOperation"] = X509RevocationReason.CessationOfOperation,
        ["certificateHold"] = X509RevocationReason.CertificateHold,
        ["privilegeWithdrawn"] = X509RevocationReason.PrivilegeWithdrawn,
        ["aACompromise"] = X509RevocationReason.AACompromise,
    };

    private static readonly string[] s_timeFormats = ["yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd'T'HH:mmK", "yyyy-MM-dd"];

    /// <summary>
    /// Reads <paramref name="path"/>; entries without a time are revoked at <paramref name="now"/>. Throws
    /// <see cref="PkiException"/> when the file does not exist (a missing list is not an empty one) and
    /// <see cref="FormatException"/> naming the file and line of a malformed entry.
    /// </summary>
    public static IReadOnlyList<RevokedCertificate> Read(string path, DateTimeOffset now)
    {
        if (!File.Exists(path))
        {
            throw new PkiException($"The revoked-serials file {path} does not exist (with nothing revoked, give an empty file).");
        }

        return Parse(File.ReadAllLines(path), path, now);
    }

    /// <summary>Parses the lines of a revoked-serials file; see <see cref="Read"/>.</summary>
    public static IReadOnlyList<RevokedCertificate> Parse(IReadOnlyList<string> lines, string source, DateTimeOffset now)
    {
        var entries = new List<RevokedCertificate>();
        var lineOf = new Dictionary<BigInteger, int>();
        for (var i = 0; i < lines.Count; i++)
        {
            var number = i + 1;
            var text = lines[i];
            var comment = text.IndexOf('#', StringComparison.Ordinal);
            var fields = (comment < 0 ? text : text[..comment]).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0)
            {
                continue;
            }

            FormatException Malformed(string why) => new($"{source} line {number.ToString(CultureInfo.InvariantCulture)}: {why} (expected 'SERIALHEX [REASON] [REVOKED-AT]').");

            if (fields.Length > 3)
            {
                throw Malformed($"{fields.Length} fields");
            }

            BigInteger serial;
            try
            {
                serial = new BigInteger(Convert.FromHexString(CertificateAuthority.NormalizeSerial(fields[0])), isUnsigned: true, isBigEndian: true);
            }
            catch (PkiException e)
            {
                throw Malformed(e.Message.TrimEnd('.'));
            }

            // The reason, then the time; either may be left out.
            var next = 1;
            X509RevocationReason? reason = null;
            if (next < fields.Length && s_reasons.TryGetValue(fields[next], out var named))
            {
                // RFC 5280 §5.3.1: an unspecified reason is left out rather than written as code 0.
                reason = named == X509RevocationReason.Unspecified ? null : named;
                next++;
            }

            DateTimeOffset? revokedAt = null;
            if (next < fields.Length)
            {
                revokedAt = ParseTime(fields[next]) ?? throw Malformed(
                    $"'{fields[next]}' is neither a revocation reason ({string.Join(", ", s_reasons.Keys)}) nor an ISO-8601 UTC time such as 2025-01-31T12:00:00Z");
                next++;
            }

            if (next < fields.Length)
            {
                throw Malformed($"'{fields[next]}' after the revocation time (the reason comes first)");
            }

            if (!lineOf.TryAdd(serial, number))
            {
                throw Malformed($"serial {fields[0]} is already listed on line {lineOf[serial].ToString(CultureInfo.InvariantCulture)}");
            }

            entries.Add(new RevokedCertificate(serial, revokedAt ?? now, reason));
        }

        return entries;
    }

    private static DateTimeOffset? ParseTime(string text) =>
        DateTimeOffset.TryParseExact(text, s_timeFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) && time.Offset == TimeSpan.Zero
            ? time
            : null;
}
