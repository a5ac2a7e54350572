using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Revocation;

namespace MtlsAspire.CertBootstrap.Cluster;

/// <summary>
/// The CA publisher's record of every revocation it ever published: the <c>crl.pem</c> it wrote last (the
/// <c>mtls-crl</c> ConfigMap, mounted back into its pod). The revoked-serials file is edited by hand; a line deleted from
/// it, by mistake or on purpose, must not un-revoke a certificate, since every later CRL has a higher number and is
/// taken by every service. So each serial a CRL of ours listed stays in the next CRLs while its certificate could still
/// be valid, whatever the file says. A CRL entry does not say when the certificate expires, and the revocation time
/// the file gives may be earlier than the certificate (the time of a compromise), so the bound is the CAs': no
/// certificate they signed is valid past the latest notAfter of the CAs that sign the CRLs. In practice a revocation
/// stays as long as the root (a CRL entry is about 60 bytes).
/// </summary>
public static class RevocationRecord
{
    /// <summary>
    /// <paramref name="listed"/> (the revoked-serials file), plus every serial of a CRL in
    /// <paramref name="publishedCrlFile"/> (a missing or empty file: none) that verifies with one of
    /// <paramref name="cas"/> and that the file no longer lists, while <paramref name="now"/> is before the latest
    /// notAfter of <paramref name="cas"/>. Each kept or dropped serial, and each CRL of the file that cannot be read or
    /// verified (it carries nothing), gets a line in <c>notes</c>, for the job's log.
    /// </summary>
    public static (IReadOnlyList<RevokedCertificate> Revoked, IReadOnlyList<string> Notes) CarryForward(IReadOnlyList<RevokedCertificate> listed,
        string? publishedCrlFile, IReadOnlyList<X509Certificate2> cas, DateTimeOffset now)
    {
        var notes = new List<string>();
        if (publishedCrlFile is null || !File.Exists(publishedCrlFile))
        {
            return (listed, notes);
        }

        var recorded = new Dictionary<BigInteger, (RevokedCertificate Entry, RevocationList Crl)>();
        List<byte[]> blocks;
        try
        {
            blocks = Pem.ReadBlocks(File.ReadAllText(publishedCrlFile), "X509 CRL");
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
        {
            notes.Add($"{publishedCrlFile}: the CRLs published before cannot be read ({e.Message}): no serial is carried forward from them");
            return (listed, notes);
        }

        foreach (var der in blocks)
        {
            RevocationList crl;
            try
            {
                var issuerName = RevocationList.ReadIssuer(der);
                var ca = cas.FirstOrDefault(c => c.SubjectName.RawData.AsSpan().SequenceEqual(issuerName.RawData));
                if (ca is null)
                {
                    continue; // not one of ours (an appended root CRL): it is appended again from its own file
                }

                crl = RevocationList.Load(der, ca);
            }
            catch (CryptographicException e)
            {
                notes.Add($"{publishedCrlFile}: a CRL published before is ignored, it carries no serial forward: {e.Message}");
                continue;
            }

            foreach (var entry in crl.Entries)
            {
                // Every CRL of one run lists the same serials; the latest revocation time keeps a serial longest.
                if (!recorded.TryGetValue(entry.Serial, out var seen) || entry.RevokedAt > seen.Entry.RevokedAt)
                {
                    recorded[entry.Serial] = (entry, crl);
                }
            }
        }

        var keepUntil = new DateTimeOffset(cas.Max(c => c.NotAfter.ToUniversalTime()), TimeSpan.Zero);
        var listedSerials = listed.Select(r => r.Serial).ToHashSet();
        var revoked = new List<RevokedCertificate>(listed);
        foreach (var (serial, (entry, crl)) in recorded.Where(r => !listedSerials.Contains(r.Key)).OrderBy(r => r.Key))
        {
            var what = string.Create(CultureInfo.InvariantCulture,
                $"the revoked-serials file no longer lists serial {Hex(serial)} (revoked {entry.RevokedAt.UtcDateTime:u}, reason {ChainCheck.ReasonName(entry.Reason)}, in CRL #{crl.Number} of '{crl.Issuer.Name}')");
            if (now < keepUntil)
            {
                revoked.Add(entry);
                notes.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{what}: it stays revoked in every CRL while the CAs that could have signed its certificate are valid (until {keepUntil.UtcDateTime:u}); a revocation cannot be undone, issue a new certificate instead"));
            }
            else
            {
                notes.Add(string.Create(CultureInfo.InvariantCulture, $"{what}: dropped, every CA that could have signed its certificate expired by {keepUntil.UtcDateTime:u}"));
            }
        }

        return (revoked, notes);
    }

    private static string Hex(BigInteger serial) => Convert.ToHexString(serial.ToByteArray(isUnsigned: true, isBigEndian: true));
}
