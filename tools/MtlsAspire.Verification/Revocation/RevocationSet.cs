using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.Verification.Revocation;

/// <summary>What a <see cref="RevocationSet"/> says of one certificate.</summary>
public enum RevocationStatus
{
    /// <summary>A current CRL from its issuer does not list it.</summary>
    Good,

    /// <summary>Its issuer's CRL lists it.</summary>
    Revoked,

    /// <summary>No CRL from its issuer is known (or none verifies with the issuer's key).</summary>
    NoCrl,

    /// <summary>Its issuer's CRL is past its nextUpdate.</summary>
    StaleCrl,
}

/// <summary>The result of a revocation check, with the CRL consulted and the entry when revoked.</summary>
public sealed record RevocationCheck(RevocationStatus Status, RevocationList? Crl, RevokedCertificate? Entry);

/// <summary>
/// The CRLs of a <c>crl.pem</c> (one per CA: intermediates and roots), answering "is this certificate revoked".
/// A CRL is trusted only once its signature verifies with its issuer's key: CRLs of issuers given at load (the
/// roots, the service's own intermediate) are verified then, and any other (another intermediate of the same
/// root) the first time a validated chain presents that intermediate. Of several CRLs of one issuer, the one with the
/// highest CRL number is used (<see cref="RevocationList.Newness"/>); a CRL without a number is refused at load.
/// </summary>
public sealed class RevocationSet
{
    private readonly List<RevocationList> _verified;
    private readonly List<(X500DistinguishedName Issuer, byte[] Der)> _pending;
    /// <summary>How many issuers' pending CRLs, once verified, are kept verified (<see cref="ListFor"/>).</summary>
    internal const int VerifiedLaterCapacity = 64;

    private readonly ConcurrentDictionary<string, RevocationList> _verifiedLater = new(StringComparer.Ordinal);

    private RevocationSet(List<RevocationList> verified, List<(X500DistinguishedName, byte[])> pending, IReadOnlyList<CrlStatus> loaded)
    {
        _verified = verified;
        _pending = pending;
        Loaded = loaded;
    }

    /// <summary>
    /// Every CRL of the file, in file order: issuer, number, thisUpdate, nextUpdate and how many serials it lists. A CRL
    /// of an issuer not met yet is listed too; it is trusted only once that issuer's certificate verifies it.
    /// </summary>
    public IReadOnlyList<CrlStatus> Loaded { get; }

    /// <summary>How many issuers a pending CRL was verified for and is kept for (at most <see cref="VerifiedLaterCapacity"/>).</summary>
    internal int VerifiedLaterCount => _verifiedLater.Count;

    /// <summary>An empty set (no CRL known).</summary>
    public static RevocationSet Empty { get; } = new([], [], []);

    /// <summary>
    /// Reads every "X509 CRL" block of <paramref name="pemText"/>, verifying now each whose issuer is among
    /// <paramref name="knownIssuers"/>. Throws <see cref="CryptographicException"/> naming <paramref name="source"/>
    /// when a CRL is malformed or fails its signature check.
    /// </summary>
    public static RevocationSet Load(string pemText, IEnumerable<X509Certificate2> knownIssuers, string source)
    {
        List<byte[]> blocks;
        try
        {
            blocks = Pem.ReadBlocks(pemText, "X509 CRL");
        }
        catch (FormatException e)
        {
            throw new CryptographicException($"{source}: a CRL block is not valid base64 (the file is damaged or truncated).", e);
        }

        if (blocks.Count == 0 && pemText.Trim().Length > 0)
        {
            throw new CryptographicException($"{source}: no PEM 'X509 CRL' block found (the file is damaged or not a CRL).");
        }

        var issuers = knownIssuers.ToList();
        var verified = new List<RevocationList>();
        var pending = new List<(X500DistinguishedName, byte[])>();
        var loaded = new List<CrlStatus>();
        for (var i = 0; i < blocks.Count; i++)
        {
            X500DistinguishedName issuerName;
            try
            {
                issuerName = RevocationList.ReadIssuer(blocks[i]);
            }
            catch (CryptographicException e)
            {
                throw new CryptographicException($"{source}: CRL #{i + 1}: {e.Message}", e);
            }

            var matching = issuers.Where(c => c.SubjectName.RawData.AsSpan().SequenceEqual(issuerName.RawData)).ToList();
            CrlStatus status;
            if (matching.Count == 0)
            {
                pending.Add((issuerName, blocks[i]));
                status = RevocationList.ReadStatus(blocks[i]);
            }
            else
            {
                var list = TryVerify(blocks[i], matching, out var error)
                    ?? throw new CryptographicException($"{source}: CRL #{i + 1} from '{issuerName.Name}': {error}");
                verified.Add(list);
                status = list.Status();
            }

            // Only CRL numbers order CRLs (RevocationList.Newness): one without a number could not be told older or newer
            // than another of its issuer, so it is refused, like a malformed one (RFC 5280 §5.2.3 makes the number mandatory).
            if (status.Number is null)
            {
                throw new CryptographicException($"{source}: CRL #{i + 1} from '{issuerName.Name}' has no CRL number (RFC 5280 §5.2.3): " +
                    "CRLs are ordered by their numbers only, so it cannot be told older or newer than another CRL of its issuer, and is refused.");
            }

            loaded.Add(status);
        }

        return new RevocationSet(verified, pending, loaded);
    }

    private static RevocationList? TryVerify(byte[] der, IEnumerable<X509Certificate2> issuers, out string error)
    {
        error = "no issuer";
        foreach (var issuer in issuers)
        {
            try
            {
                return RevocationList.Load(der, issuer);
            }
            catch (CryptographicException e)
            {
                error = e.Message;
            }
        }

        return null;
    }

    /// <summary>
    /// Checks <paramref name="certificate"/>, issued by <paramref name="issuer"/> (taken from a chain that already
    /// validated), against the newest CRL of that issuer.
    /// </summary>
    public RevocationCheck Check(X509Certificate2 certificate, X509Certificate2 issuer, DateTimeOffset now)
    {
        var crl = ListFor(issuer);
        if (crl is null)
        {
            return new RevocationCheck(RevocationStatus.NoCrl, null, null);
        }

        if (crl.Find(certificate) is { } entry)
        {
            return new RevocationCheck(RevocationStatus.Revoked, crl, entry);
        }

        return new RevocationCheck(crl.IsStale(now) ? RevocationStatus.StaleCrl : RevocationStatus.Good, crl, null);
    }

    private RevocationList? ListFor(X509Certificate2 issuer)
    {
        var newest = _verified.Where(l => l.IsFor(issuer) && l.VerifiedIssuer.PublicKeyEquals(issuer)).Max(RevocationList.Newness);
        if (_pending.Count == 0)
        {
            return newest;
        }

        // A pending CRL that names this issuer but does not verify with its key is ignored: the issuer then has no
        // usable CRL (NoCrl), which a chain check reports as "revocation cannot be checked", never as good. Only a CRL
        // that verified is kept, for a bounded number of issuers: a certificate that merely bears a pending CRL's issuer
        // name (a forgery) adds nothing, and costs at most a signature check per pending CRL of that name
        // (RevocationList.Load verifies before it decodes the entries). ChainCheck asks only for chains that built.
        if (!_verifiedLater.TryGetValue(issuer.Thumbprint, out var later))
        {
            later = _pending
                .Where(p => p.Issuer.RawData.AsSpan().SequenceEqual(issuer.SubjectName.RawData))
                .Select(p => TryVerify(p.Der, [issuer], out _))
                .OfType<RevocationList>()
                .Max(RevocationList.Newness);
            if (later is not null && _verifiedLater.Count < VerifiedLaterCapacity)
            {
                _verifiedLater.TryAdd(issuer.Thumbprint, later);
            }
        }

        return new[] { newest, later }.OfType<RevocationList>().Max(RevocationList.Newness);
    }
}

internal static class PublicKeyComparison
{
    public static bool PublicKeyEquals(this X509Certificate2 a, X509Certificate2 b) =>
        a.PublicKey.EncodedKeyValue.RawData.AsSpan().SequenceEqual(b.PublicKey.EncodedKeyValue.RawData);
}
