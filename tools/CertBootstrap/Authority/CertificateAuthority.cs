using System.Globalization;
using System.Net;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification;
using MtlsAspire.CertBootstrap.Certificates;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Authority;

/// <summary>
/// The project's private CA: a root (key encrypted at rest, used only to sign intermediates and its CRL) → an
/// intermediate (pathlen 0, signs every leaf) → short-lived SPIFFE leaves, each with a fresh key, recorded in the
/// ledger and published as atomic cert-manager-style file sets. Every clock read goes through the given
/// <see cref="TimeProvider"/>.
/// </summary>
public sealed partial class CertificateAuthority
{
    private const int MaxSerialAttempts = 5;
    private readonly PassphraseSource _passphrase;
    private readonly TimeProvider _time;
    private readonly Lock _intermediateLock = new();
    private readonly ContentStore _content;
    private LoadedCa? _intermediate;
    private IssuingState? _issuing;

    private CertificateAuthority(PkiLayout layout, PkiSettings settings, CertificateLedger ledger, PassphraseSource passphrase, TimeProvider time)
    {
        Layout = layout;
        Settings = settings;
        Ledger = ledger;
        _passphrase = passphrase;
        _time = time;
        _content = new ContentStore(layout.ContentDirectory);
    }

    /// <summary>The directory layout.</summary>
    public PkiLayout Layout { get; }

    /// <summary>The settings from pki.json.</summary>
    public PkiSettings Settings { get; }

    /// <summary>The ledger.</summary>
    public CertificateLedger Ledger { get; }

    private sealed record LoadedCa(LedgerEntry Entry, X509Certificate2 Certificate);

    /// <summary>What every issuance needs from the CA set, cached until the ledger's CA version changes.</summary>
    private sealed record IssuingState(long Version, LoadedCa Intermediate, string BundlePem, string CrlPem, DateTimeOffset CrlRefreshDue);

    /// <summary>
    /// Creates a PKI in <paramref name="directory"/>: settings, ledger, root, intermediate, CRLs and trust bundle.
    /// Refuses a directory that already holds anything unless <paramref name="force"/>, which moves it aside
    /// (never deletes it).
    /// </summary>
    public static (CertificateAuthority Authority, InitializedPki Result) Initialize(string directory, PkiSettings settings,
        PassphraseSource passphrase, TimeProvider time, bool force = false)
    {
        settings.Validate();
        var layout = new PkiLayout(Path.GetFullPath(directory));
        string? replaced = null;
        if (Directory.Exists(layout.Root) && Directory.EnumerateFileSystemEntries(layout.Root).Any())
        {
            var what = File.Exists(layout.SettingsFile) ? "already holds a PKI (pki.json)" : "is not empty";
            if (!force)
            {
                throw new PkiException($"{layout.Root} {what}; refusing to overwrite it. Pass --force to move it aside and start a new PKI.");
            }

            replaced = $"{layout.Root.TrimEnd(Path.DirectorySeparatorChar)}.replaced-{time.GetUtcNow():yyyyMMdd'T'HHmmss'Z'}";
            SqliteCleanup(); // pooled connections would follow the moved ledger file
            Directory.Move(layout.Root, replaced);
        }

        var created = !Directory.Exists(layout.Root);
        try
        {
            WithIo(layout.Root, () => SecureFiles.CreatePrivateDirectory(layout.Root));
            SecureFiles.ReplaceAtomically(layout.SettingsFile, settings.ToJson(), SecureFiles.Public);
            var authority = new CertificateAuthority(layout, settings, new CertificateLedger(layout.LedgerFile), passphrase, time);
            var result = authority.CreateHierarchy(replaced);
            return (authority, result);
        }
        catch (Exception e) when (created && e is not OutOfMemoryException)
        {
            SqliteCleanup();
            Directory.Delete(layout.Root, recursive: true);
            throw;
        }
    }

    /// <summary>Opens an existing PKI. Throws <see cref="PkiException"/> when <paramref name="directory"/> holds none.</summary>
    public static CertificateAuthority Open(string directory, PassphraseSource passphrase, TimeProvider time)
    {
        var layout = new PkiLayout(Path.GetFullPath(directory));
        if (!File.Exists(layout.SettingsFile))
        {
            throw new PkiException($"{layout.Root} holds no PKI (no pki.json): run 'init --pki {directory}' first.");
        }

        var settings = PkiSettings.Load(layout.SettingsFile);
        settings.Validate();
        return new CertificateAuthority(layout, settings, new CertificateLedger(layout.LedgerFile), passphrase, time);
    }

    private InitializedPki CreateHierarchy(string? replaced)
    {
        var (root, generatedFile) = CreateRoot(CertificateStatus.Active, "initialized",
            subject => $"PKI created for trust domain {Settings.TrustDomain}, environment {Settings.Environment}; root CA {subject}");
        var intermediate = IssueIntermediate(root);
        PublishCrl(root, Settings.RootCrlValidity);
        return new InitializedPki(root.Entry, intermediate.Entry, generatedFile, replaced);
    }

    /// <summary>
    /// A new self-signed root (its key encrypted with the root passphrase, or a generated one), recorded with
    /// <paramref name="status"/>, and the trust bundle rewritten to hold it.
    /// </summary>
    private (LoadedCa Root, string? GeneratedPassphraseFile) CreateRoot(CertificateStatus status, string eventKind, Func<string, string> describe)
    {
        var now = _time.GetUtcNow();
        var serial = NewSerial();
        var serialHex = Convert.ToHexString(serial);
        var rootDirectory = Layout.RootDirectory(serialHex);
        SecureFiles.CreatePrivateDirectory(rootDirectory);
        string? generatedFile = null;
        if (!_passphrase.IsSupplied)
        {
            PassphraseSource.GenerateLocal(rootDirectory);
            generatedFile = PkiLayout.PassphraseIn(rootDirectory);
        }

        var (passphrase, _) = _passphrase.Resolve(rootDirectory);
        using var key = KeyPair.Generate(Settings.KeyType);
        var subject = CaName("Root", serialHex);
        var request = key.CreateRequest(subject);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var ski = new X509SubjectKeyIdentifierExtension(request.PublicKey, false);
        request.CertificateExtensions.Add(ski);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(ski));
        // The trust domain this root vouches for (TrustDomainBinding): spiffe://{trust-domain}, a SPIFFE ID without a path.
        request.CertificateExtensions.Add(TrustDomainBinding.MarkerExtension(Settings.TrustDomain));
        using var publicRoot = request.Create(subject, key.CreateSignatureGenerator(), now - Settings.ClockSkewAllowance, now + Settings.RootLifetime, serial);

        SecureFiles.WriteNew(PkiLayout.CertificateIn(rootDirectory), Pem.Certificates([publicRoot]), SecureFiles.Public);
        SecureFiles.WriteNew(PkiLayout.KeyIn(rootDirectory), key.ExportEncryptedPkcs8Pem(passphrase) + "\n", SecureFiles.Secret);
        var rootEntry = EntryFor(publicRoot, CertificateKind.Root, issuerSerial: null, now) with { Status = status };
        Record(rootEntry, new LedgerEvent(now, eventKind, rootEntry.Serial, null, describe(publicRoot.Subject)));
        WriteTrustBundle();
        Ledger.BumpCaVersion(); // after the bundle file changed
        return (new LoadedCa(rootEntry, key.AttachTo(publicRoot)), generatedFile);
    }

    /// <summary>Issues a new intermediate under the active root and makes it the one that signs leaves.</summary>
    /// <param name="renewLeaves">Also renews every service's active leaf under the new intermediate.</param>
    public (LedgerEntry Intermediate, IReadOnlyList<IssuedLeaf> Renewed) RotateIntermediate(bool renewLeaves = false)
    {
        var root = LoadActiveRoot();
        var intermediate = IssueIntermediate(root);
        PublishCrl(root, Settings.RootCrlValidity);
        RefreshServiceDirectories();
        var renewed = new List<IssuedLeaf>();
        if (renewLeaves)
        {
            renewed.AddRange(RenewAll());
        }

        return (intermediate.Entry, renewed);
    }

    private LoadedCa IssueIntermediate(LoadedCa root)
    {
        var now = _time.GetUtcNow();
        var notAfter = Min(now + Settings.IntermediateLifetime, root.Certificate.NotAfter);
        var key = KeyPair.Generate(Settings.KeyType);
        for (var attempt = 1; ; attempt++)
        {
            var serial = NewSerial();
            var serialHex = Convert.ToHexString(serial);
            var subject = CaName("Intermediate", serialHex);
            var request = key.CreateRequest(subject);
            request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForCertificateAuthority(0));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root.Certificate, true, false));
            using var certificate = request.Create(root.Certificate.SubjectName, CreateGenerator(root.Certificate), now - Settings.ClockSkewAllowance, notAfter, serial);

            var directory = Layout.IntermediateDirectory(serialHex);
            SecureFiles.CreatePrivateDirectory(directory);
            SecureFiles.WriteNew(PkiLayout.CertificateIn(directory), Pem.Certificates([certificate]), SecureFiles.Public);
            SecureFiles.WriteNew(PkiLayout.KeyIn(directory), key.ExportPkcs8Pem() + "\n", SecureFiles.Secret);

            var entry = EntryFor(certificate, CertificateKind.Intermediate, root.Entry.Serial, now);
            var recorded = Ledger.TryRecordIssued(entry, new LedgerEvent(now, "intermediate-issued", entry.Serial, null,
                $"Intermediate CA {certificate.Subject} now signs new leaves (valid until {notAfter:u})"));
            if (!recorded)
            {
                Directory.Delete(directory, recursive: true);
                if (attempt < MaxSerialAttempts)
                {
                    continue;
                }

                throw new PkiException("Could not record the intermediate CA: its serial was taken (ledger conflict).");
            }

            var loaded = new LoadedCa(entry, key.AttachTo(certificate));
            lock (_intermediateLock)
            {
                _intermediate = loaded;
            }

            PublishCrl(loaded, Settings.IntermediateCrlValidity);
            return loaded;
        }
    }

    /// <summary>
    /// Revokes a certificate by serial (a leaf or an intermediate; a root is distrusted by leaving the bundle, not
    /// revoked), publishes its issuer's CRL and republishes crl.pem to every service directory.
    /// </summary>
    public LedgerEntry Revoke(string serial, X509RevocationReason reason = X509RevocationReason.Unspecified)
    {
        var normalized = NormalizeSerial(serial);
        var entry = Ledger.Find(normalized)
            ?? throw new PkiException($"No certificate with serial {serial} was issued by this PKI (see 'list --pki {Layout.Root}').");
        if (entry.Kind == CertificateKind.Root)
        {
            throw new PkiException($"Serial {normalized} is a root CA: a root is not revoked but removed from the trust bundle (root rotation).");
        }

        // Load the issuer (and for an intermediate, decrypt the root key) before changing anything, so a missing
        // passphrase cannot leave a serial marked revoked that no CRL lists.
        var issuer = entry.Kind == CertificateKind.Leaf
            ? LoadIntermediate(entry.IssuerSerial!)
            : LoadRoot(Ledger.Find(entry.IssuerSerial!) ?? throw new PkiException($"The ledger has no root CA {entry.IssuerSerial}."));
        var now = _time.GetUtcNow();
        LedgerEntry revoked;
        try
        {
            revoked = Ledger.Revoke(normalized, reason, now, new LedgerEvent(now, "revoked", normalized, entry.Service,
                $"Revoked {entry.SpiffeId ?? entry.Subject} (serial {normalized}), reason {ChainCheck.ReasonName(reason)}"));
        }
        catch (InvalidOperationException e)
        {
            throw new PkiException(e.Message, e);
        }

        PublishCrl(issuer, entry.Kind == CertificateKind.Leaf ? Settings.IntermediateCrlValidity : Settings.RootCrlValidity);
        RefreshServiceDirectories();
        return revoked;
    }

    /// <summary>Revokes the service's active leaf.</summary>
    public LedgerEntry RevokeService(string service, X509RevocationReason reason = X509RevocationReason.Unspecified)
    {
        var active = Ledger.ActiveLeaf(service) ?? throw new PkiException($"Service '{service}' has no active leaf to revoke (see 'list').");
        return Revoke(active.Serial, reason);
    }

    /// <summary>
    /// Re-signs the CRL of every current intermediate (and, with <paramref name="includeRoots"/>, of every trusted root,
    /// which needs the root passphrase) and republishes crl.pem to every service directory.
    /// </summary>
    public (IReadOnlyList<RevocationList> Published, RefreshResult Refresh) PublishCrls(bool includeRoots = true)
    {
        var published = new List<RevocationList>();
        foreach (var entry in CurrentIntermediates())
        {
            published.Add(PublishCrl(LoadIntermediate(entry.Serial), Settings.IntermediateCrlValidity));
        }

        if (includeRoots)
        {
            foreach (var entry in TrustedRootEntries())
            {
                published.Add(PublishCrl(LoadRoot(entry), Settings.RootCrlValidity));
            }
        }

        return (published, RefreshServiceDirectories());
    }

    /// <summary>The trusted roots (the bundle).</summary>
    public X509Certificate2Collection TrustedRoots() =>
        new(TrustedRootEntries().Select(e => LoadCertificate(PkiLayout.CertificateIn(Layout.RootDirectory(e.Serial)))).ToArray());

    /// <summary>
    /// Writes a new generation to every directory a leaf was published to, with the same tls.crt and tls.key and the
    /// current ca.crt and crl.pem. A directory that was removed is skipped; one that cannot be read or written is
    /// listed in <see cref="RefreshResult.Failed"/> with the reason, and the others are still refreshed.
    /// </summary>
    public RefreshResult RefreshServiceDirectories()
    {
        var bundle = ReadText(Layout.BundleFile);
        var crls = CrlPemOfCurrentCas();
        var now = _time.GetUtcNow();
        var refreshed = new List<string>();
        var failed = new List<string>();
        foreach (var batch in Ledger.OutputDirectories().Chunk(BatchLimit))
        {
            var staged = new List<CredentialDirectory.StagedGeneration>(batch.Length);
            try
            {
                foreach (var path in batch)
                {
                    var directory = new CredentialDirectory(path);
                    if (!directory.Exists)
                    {
                        continue;
                    }

                    try
                    {
                        staged.Add(WithIo(path, () => directory.StageUpdate(files => files with { BundlePem = bundle, CrlPem = crls }, now, _content)));
                    }
                    catch (PkiException e)
                    {
                        failed.Add(e.Message);
                    }
                }

                failed.AddRange(CredentialDirectory.StagedGeneration.CommitAll(staged).Select(f => $"Cannot write to {f}"));
                refreshed.AddRange(staged.Where(s => s.IsCommitted).Select(s => s.Directory.Path));
            }
            finally
            {
                DisposeAll(staged);
            }
        }

        return new RefreshResult(refreshed, failed);
    }

    private RevocationList PublishCrl(LoadedCa issuer, TimeSpan validity)
    {
        var (number, revoked) = Ledger.NextCrl(issuer.Entry.Serial);
        var now = _time.GetUtcNow();
        var entries = revoked.Select(e => new RevokedCertificate(
            new BigInteger(Convert.FromHexString(e.Serial), isUnsigned: true, isBigEndian: true), e.RevokedAt!.Value, e.RevocationReason));
        var der = RevocationListSigner.Sign(issuer.Certificate, number, entries, now, now + validity);
        var crl = RevocationList.Load(der, issuer.Certificate);

        var path = Layout.CrlFile(issuer.Entry.Serial);
        SecureFiles.CreatePrivateDirectory(Path.GetDirectoryName(path)!);
        using (SecureFiles.AcquireLock(Path.Combine(Path.GetDirectoryName(path)!, ".lock")))
        {
            // Two processes may publish at once: the file only ever moves to a higher CRL number.
            var existing = TryReadCrl(path, issuer.Certificate);
            if (existing?.Number is not { } existingNumber || existingNumber < number)
            {
                SecureFiles.ReplaceAtomically(path, PemEncoding.WriteString("X509 CRL", der) + "\n", SecureFiles.Public);
            }
        }

        Ledger.BumpCaVersion(); // the file is in place: caches of the CRL text must reload

        return crl;
    }

    private IssuingState CurrentIssuingState()
    {
        // Read the version first: whatever is built after it is at least that new, so a later change is never missed.
        var version = Ledger.CaVersion();
        var cached = Volatile.Read(ref _issuing);
        if (cached?.Version == version)
        {
            return cached;
        }

        var intermediate = ActiveIntermediate();
        var crl = TryReadCrl(Layout.CrlFile(intermediate.Entry.Serial), intermediate.Certificate);
        var refreshDue = crl?.NextUpdate is { } next ? next - (Settings.IntermediateCrlValidity / 2) : DateTimeOffset.MinValue;
        var state = new IssuingState(version, intermediate, ReadText(Layout.BundleFile), CrlPemOfCurrentCas(), refreshDue);
        Volatile.Write(ref _issuing, state);
        _content.Retain(state.BundlePem, state.CrlPem); // generations keep what they linked; new ones link only these
        return state;
    }

    private string CrlPemOfCurrentCas()
    {
        var blocks = new List<string>();
        foreach (var entry in TrustedRootEntries().Concat(CurrentIntermediates()))
        {
            var path = Layout.CrlFile(entry.Serial);
            if (File.Exists(path))
            {
                blocks.Add(File.ReadAllText(path));
            }
        }

        return Pem.Join(blocks);
    }

    private static RevocationList? TryReadCrl(string path, X509Certificate2 issuer)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return Pem.ReadBlocks(File.ReadAllText(path), "X509 CRL") is [var der] ? RevocationList.Load(der, issuer) : null;
        }
        catch (Exception e) when (e is CryptographicException or FormatException)
        {
            return null; // a damaged CRL file is simply re-signed
        }
    }

    private IEnumerable<LedgerEntry> TrustedRootEntries()
    {
        var now = _time.GetUtcNow();
        return Ledger.Find(CertificateKind.Root, CertificateStatus.Active)
            .Concat(Ledger.Find(CertificateKind.Root, CertificateStatus.Pending))
            .Concat(Ledger.Find(CertificateKind.Root, CertificateStatus.Retired))
            .Where(e => !e.IsExpired(now));
    }

    /// <summary>
    /// The intermediates whose CRLs are published: the active one, and each retired one under a trusted root until the
    /// last leaf it signed has expired (a superseded or revoked leaf is still a valid certificate until then, so its
    /// revocation status must stay answerable).
    /// </summary>
    public IReadOnlyList<LedgerEntry> CurrentIntermediates()
    {
        var now = _time.GetUtcNow();
        var trustedRoots = TrustedRootEntries().Select(e => e.Serial).ToHashSet(StringComparer.Ordinal);
        return Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active)
            .Concat(Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Retired)
                .Where(e => trustedRoots.Contains(e.IssuerSerial!) && Ledger.HasUnexpiredLeaves(e.Serial, now)))
            .Where(e => !e.IsExpired(now))
            .ToList();
    }

    private void WriteTrustBundle()
    {
        var roots = TrustedRootEntries().Select(e => ReadText(PkiLayout.CertificateIn(Layout.RootDirectory(e.Serial))));
        SecureFiles.ReplaceAtomically(Layout.BundleFile, Pem.Join(roots), SecureFiles.Public);
    }

    private LoadedCa ActiveIntermediate()
    {
        var active = Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active) is [.., var lastActive] ? lastActive : null;
        if (active is null)
        {
            var revoked = Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Revoked) is [.., var lastRevoked] ? lastRevoked : null;
            throw new PkiException(revoked is null
                ? $"{Layout.Root} has no active intermediate CA: run rotate-intermediate."
                : $"The intermediate CA {revoked.Subject} was revoked: run rotate-intermediate before issuing.");
        }

        lock (_intermediateLock)
        {
            if (_intermediate?.Entry.Serial == active.Serial)
            {
                return _intermediate;
            }
        }

        var loaded = LoadIntermediate(active.Serial);
        lock (_intermediateLock)
        {
            _intermediate = loaded;
        }

        return loaded;
    }

    private LoadedCa LoadIntermediate(string serial)
    {
        lock (_intermediateLock)
        {
            if (_intermediate?.Entry.Serial == serial)
            {
                return _intermediate;
            }
        }

        var entry = Ledger.Find(serial) ?? throw new PkiException($"The ledger has no intermediate CA {serial}.");
        var directory = Layout.IntermediateDirectory(serial);
        var certificatePath = PkiLayout.CertificateIn(directory);
        var keyPath = PkiLayout.KeyIn(directory);
        var certificate = LoadCertificate(certificatePath);
        try
        {
            using var key = PrivateKeys.Import(File.ReadAllText(keyPath), null, keyPath);
            if (!certificate.PublicKeyMatches(key))
            {
                throw new PkiException($"{keyPath} does not match the certificate {certificatePath}.");
            }

            return new LoadedCa(entry, PrivateKeys.AttachTo(certificate, key));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PkiException($"Cannot read {keyPath}: {e.Message}", e);
        }
    }

    private LoadedCa LoadActiveRoot()
    {
        var active = (Ledger.Find(CertificateKind.Root, CertificateStatus.Active) is [.., var last] ? last : null)
            ?? throw new PkiException($"{Layout.Root} has no active root CA.");
        return LoadRoot(active);
    }

    private LoadedCa LoadRoot(LedgerEntry entry)
    {
        var directory = Layout.RootDirectory(entry.Serial);
        var certificatePath = PkiLayout.CertificateIn(directory);
        var keyPath = PkiLayout.KeyIn(directory);
        var certificate = LoadCertificate(certificatePath);
        var (passphrase, origin) = _passphrase.Resolve(directory);
        string keyPem;
        try
        {
            keyPem = File.ReadAllText(keyPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PkiException($"Cannot read the root key {keyPath}: {e.Message}", e);
        }

        using var key = PrivateKeys.Import(keyPem, passphrase, keyPath, origin);
        if (!certificate.PublicKeyMatches(key))
        {
            throw new PkiException($"{keyPath} does not match the root certificate {certificatePath}.");
        }

        return new LoadedCa(entry, PrivateKeys.AttachTo(certificate, key));
    }

    private static X509Certificate2 LoadCertificate(string path)
    {
        try
        {
            return Pem.ReadCertificates(File.ReadAllText(path), path)[0];
        }
        catch (InvalidDataException e)
        {
            throw new PkiException(e.Message, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PkiException($"Cannot read {path}: {e.Message}", e);
        }
    }

    private static string ReadText(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PkiException($"Cannot read {path}: {e.Message}", e);
        }
    }

    private static X509SignatureGenerator CreateGenerator(X509Certificate2 issuer) =>
        issuer.GetECDsaPrivateKey() is { } ecdsa
            ? X509SignatureGenerator.CreateForECDsa(ecdsa)
            : X509SignatureGenerator.CreateForRSA(issuer.GetRSAPrivateKey()!, RSASignaturePadding.Pkcs1);

    private void Record(LedgerEntry entry, LedgerEvent @event)
    {
        if (!Ledger.TryRecordIssued(entry, @event))
        {
            throw new PkiException($"Serial {entry.Serial} is already in the ledger.");
        }
    }

    private LedgerEntry EntryFor(X509Certificate2 certificate, CertificateKind kind, string? issuerSerial, DateTimeOffset now) => new()
    {
        Serial = certificate.SerialNumber,
        Kind = kind,
        Subject = certificate.Subject,
        IssuerSerial = issuerSerial,
        KeyType = (certificate.GetKeyType() ?? Settings.KeyType).ToName(),
        NotBefore = certificate.NotBefore.ToUniversalTime(),
        NotAfter = certificate.NotAfter.ToUniversalTime(),
        IssuedAt = now,
        Status = CertificateStatus.Active,
    };

    private X500DistinguishedName CaName(string role, string serialHex)
    {
        var name = new X500DistinguishedNameBuilder();
        name.AddCommonName(string.Create(CultureInfo.InvariantCulture, $"MtlsAspire {role} CA {serialHex[..8]}"));
        name.AddOrganizationalUnitName(Settings.TrustDomain);
        name.AddOrganizationName("MtlsAspire");
        return name.Build();
    }

    /// <summary>A random positive serial of 128 bits (at least 120 of them random), never starting with a zero byte.</summary>
    internal static byte[] NewSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        if (serial[0] == 0)
        {
            serial[0] = 0x01;
        }

        return serial;
    }

    /// <summary>Normalizes a serial typed by a person: strips ':' and spaces and a 0x prefix, uppercases, pads to whole bytes.</summary>
    public static string NormalizeSerial(string serial)
    {
        var hex = serial.Trim().Replace(":", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal);
        if (hex.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            hex = hex[2..];
        }

        if (hex.Length == 0 || !hex.All(char.IsAsciiHexDigit))
        {
            throw new PkiException($"'{serial}' is not a hexadecimal serial number.");
        }

        hex = hex.ToUpperInvariant();
        return hex.Length % 2 == 1 ? "0" + hex : hex;
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTime b) => a.UtcDateTime <= b.ToUniversalTime() ? a : new DateTimeOffset(b.ToUniversalTime());

    private static T WithIo<T>(string path, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PkiException($"Cannot write to {path}: {e.Message}", e);
        }
    }

    private static void WithIo(string path, Action action) => WithIo(path, () =>
    {
        action();
        return true;
    });

    private static void SqliteCleanup() => Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
}
