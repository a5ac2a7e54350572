using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Bench;

/// <summary>
/// A CRL of E revoked serials: how long the CA takes to sign and publish it, how long a service takes to load it
/// (<see cref="RevocationSet.Load"/>, what <c>MtlsCredentialStore</c> does on every new generation) and what one
/// "is this serial revoked" costs (<see cref="RevocationSet.Check"/>, once per peer certificate in a handshake).
/// </summary>
internal static class CrlBench
{
    private const int Loads = 5;
    private const int Lookups = 1_000_000;

    public static void Run(int entries, string directory, PassphraseSource passphrase)
    {
        Program.WriteLine($"== CRL of {entries} revoked serials ==");
        var (authority, _) = CertificateAuthority.Initialize(directory, new PkiSettings(), passphrase, TimeProvider.System);
        var hit = authority.Issue(new LeafRequest("crl-hit"));
        var miss = authority.Issue(new LeafRequest("crl-miss"));
        var intermediate = authority.Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active)[^1];

        // The other E-1 revocations go straight into the ledger (revoking them one by one would re-sign E CRLs).
        var now = DateTimeOffset.UtcNow;
        var rows = Enumerable.Range(0, entries - 1).Select(i => (new LedgerEntry
        {
            Serial = RandomSerial(),
            Kind = CertificateKind.Leaf,
            Subject = string.Create(CultureInfo.InvariantCulture, $"CN=revoked-{i}"),
            IssuerSerial = intermediate.Serial,
            KeyType = "ecdsa-p256",
            NotBefore = now.AddHours(-1),
            NotAfter = now.AddHours(23),
            IssuedAt = now.AddHours(-1),
            Status = CertificateStatus.Revoked,
            RevokedAt = now,
            RevocationReason = X509RevocationReason.KeyCompromise,
        }, new LedgerEvent(now, "revoked", null, null, "bench"))).ToList();
        var insert = Measurement.Run("ledger: record the revoked rows", rows.Count, () => authority.Ledger.TryRecordIssued(rows));
        var revoke = Measurement.Run("CA: revoke one + sign and publish", 1, () => authority.Revoke(hit.Entry.Serial, X509RevocationReason.KeyCompromise));
        var resign = Measurement.Run("CA: re-sign and publish (PublishCrls)", 1, () => authority.PublishCrls(includeRoots: false));

        var files = new CredentialDirectory(hit.Directory).Read();
        using var credentials = ServiceCredentials.Parse(files, hit.Directory);
        var issuers = credentials.TrustedRoots.Concat(credentials.Intermediates).ToList();
        RevocationSet set = RevocationSet.Empty;
        var load = Measurement.Run("service: RevocationSet.Load", Loads, _ => set = RevocationSet.Load(files.CrlPem, issuers, "crl.pem"));

        var hitLeaf = credentials.Leaf;
        using var missLeaf = X509Certificate2.CreateFromPem(new CredentialDirectory(miss.Directory).Read().CertificatePem);
        var issuer = credentials.Intermediates[0];
        var listed = set.Loaded.Sum(c => c.Revoked);
        if (set.Check(hitLeaf, issuer, now).Status != RevocationStatus.Revoked || set.Check(missLeaf, issuer, now).Status != RevocationStatus.Good || listed < entries)
        {
            throw new InvalidOperationException($"The CRL does not say what was revoked ({listed} entries listed, {entries} expected).");
        }

        var hitLookup = Measurement.Run("lookup: Check, revoked serial", Lookups, _ => set.Check(hitLeaf, issuer, now));
        var missLookup = Measurement.Run("lookup: Check, serial not listed", Lookups, _ => set.Check(missLeaf, issuer, now));

        Program.WriteLine($"crl.pem                  {files.CrlPem.Length / 1e6:F1} MB of PEM, {listed} entries");
        Program.WriteLine(Measurement.Header);
        foreach (var m in new[] { insert, revoke, resign, load })
        {
            Program.WriteLine(m.ToString());
        }

        Program.WriteLine($"lookup, revoked serial   {hitLookup.Elapsed.TotalNanoseconds / Lookups:F0} ns ({Lookups} lookups)");
        Program.WriteLine($"lookup, not listed       {missLookup.Elapsed.TotalNanoseconds / Lookups:F0} ns ({Lookups} lookups)");
        IssueWithTheCrl(authority);
    }

    // Every generation links the same crl.pem: issuing should cost about what it does with an empty CRL.
    private static void IssueWithTheCrl(CertificateAuthority authority)
    {
        const int count = 200;
        var requests = Enumerable.Range(0, count).Select(i => new LeafRequest(string.Create(CultureInfo.InvariantCulture, $"crl-svc-{i:D3}"))).ToList();
        authority.IssueMany(requests[..10]);
        var stopwatch = Stopwatch.StartNew();
        authority.IssueMany(requests);
        Program.WriteLine($"issuance with this CRL   {count / stopwatch.Elapsed.TotalSeconds:F0} leaves/s (one IssueMany of {count}; crl.pem is a hard link in each generation)");
    }

    private static string RandomSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01);
        return Convert.ToHexString(serial);
    }
}
