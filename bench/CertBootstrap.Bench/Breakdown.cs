using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Data.Sqlite;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Certificates;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Bench;

/// <summary>
/// Times the parts of an issuance one at a time, single-threaded, each B times, with the library's public pieces
/// (or, where the library gives no switch, a faithful stand-in: raw SQLite at synchronous FULL vs NORMAL, four file
/// writes with and without fsync). The parts are what <see cref="CertificateAuthority.Issue"/> does per leaf.
/// </summary>
internal static class Breakdown
{
    public static void Run(CertificateAuthority authority, BenchOptions options, string work, Measurement issued)
    {
        var n = options.BreakdownCount;
        var services = options.Services;
        var intermediateEntry = authority.Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active)[^1];
        var intermediateDirectory = authority.Layout.IntermediateDirectory(intermediateEntry.Serial);
        using var intermediate = X509Certificate2.CreateFromPemFile(
            PkiLayout.CertificateIn(intermediateDirectory), PkiLayout.KeyIn(intermediateDirectory));
        var generator = intermediate.GetECDsaPrivateKey() is { } ecdsa
            ? X509SignatureGenerator.CreateForECDsa(ecdsa)
            : X509SignatureGenerator.CreateForRSA(intermediate.GetRSAPrivateKey()!, RSASignaturePadding.Pkcs1);
        var crlFile = authority.Layout.CrlFile(intermediateEntry.Serial);
        var bundlePem = File.ReadAllText(authority.Layout.BundleFile);
        var crlPem = File.ReadAllText(crlFile);
        var intermediatePem = intermediate.ExportCertificatePem();

        // A sample of real file contents for the file-only loops.
        string keyPem;
        string certificatePem;
        using (var key = KeyPair.Generate(options.KeyType))
        {
            keyPem = key.ExportPkcs8Pem() + "\n";
            using var leaf = CreateLeaf(key, "svc-0001", intermediate, generator);
            certificatePem = Pem.Join([leaf.ExportCertificatePem(), intermediatePem]);
        }

        var files = new CredentialFiles(certificatePem, keyPem, bundlePem, crlPem);
        var results = new List<Measurement>();
        void Add(Measurement m)
        {
            results.Add(m);
            Program.WriteLine(m.ToString());
        }

        Program.WriteLine($"== breakdown: each part alone, single-threaded, {n} times ==");
        Program.WriteLine(Measurement.Header);

        Add(Measurement.Run("crypto: key generation", n, i =>
        {
            // RSA.Create(2048) generates lazily, on first use: export the public key to force it.
            using var key = KeyPair.Generate(options.KeyType);
            _ = key.Key.ExportSubjectPublicKeyInfo();
        }));

        Add(Measurement.Run("crypto: bare issuance", n, i =>
        {
            // What Issue does in memory: fresh key, PKCS#8 PEM, request with the same extensions, signature, PEM.
            using var key = KeyPair.Generate(options.KeyType);
            _ = key.ExportPkcs8Pem();
            using var leaf = CreateLeaf(key, IssuanceRun.ServiceName(i % services), intermediate, generator);
            _ = Pem.Join([leaf.ExportCertificatePem(), intermediatePem]);
        }));

        Add(Measurement.Run("ledger: CA version check", n, i =>
        {
            // Issue checks one number to know whether its cached CA set, bundle and crl.pem text are current.
            _ = authority.Ledger.CaVersion();
        }));

        var ledger = new CertificateLedger(Path.Combine(work, "bench-ledger.db"));
        var sample = authority.Ledger.Find(CertificateKind.Leaf, CertificateStatus.Active)[0];
        Add(Measurement.Run("ledger: record row (sync=FULL)", n, i =>
        {
            var serial = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            var service = IssuanceRun.ServiceName(i % services);
            var entry = sample with { Serial = serial, Service = service, IssuedAt = DateTimeOffset.UtcNow };
            if (!ledger.TryRecordIssued(entry, new LedgerEvent(entry.IssuedAt, "issued", serial, service, $"Issued serial {serial}")))
            {
                throw new InvalidOperationException("Serial collision in the benchmark ledger.");
            }
        }));

        Add(RawSqlite(work, "FULL", n, services));
        Add(RawSqlite(work, "NORMAL", n, services));

        var filesRoot = Path.Combine(work, "files");
        var now = DateTimeOffset.UtcNow;
        Add(Measurement.Run("files: CredentialDirectory.Publish", n, i =>
            new CredentialDirectory(Path.Combine(filesRoot, IssuanceRun.ServiceName(i % services))).Publish(files, now)));

        var (withFsync, withoutFsync) = FourWrites(Path.Combine(work, "raw-files"), n, files);
        Add(withFsync);
        Add(withoutFsync);

        double Mean(string prefix) => results.Single(r => r.Name.StartsWith(prefix, StringComparison.Ordinal)).MeanMilliseconds;
        var crypto = Mean("crypto: bare");
        var reads = Mean("ledger: CA version check");
        var write = Mean("ledger: record");
        var publish = Mean("files: Credential");
        var sum = crypto + reads + write + publish;
        var fileFsync = Mean("files: 4 writes, fsync") - Mean("files: 4 writes, no-fsync");
        var sqliteFsync = Mean("sqlite raw txn, synchronous=FULL") - Mean("sqlite raw txn, synchronous=NORMAL");
        var single = issued.MeanMilliseconds * options.Parallel;

        Program.WriteLine("");
        Program.WriteLine($"== attribution of one issuance ({single:F3} ms wall per issuance per worker) ==");
        Program.WriteLine($"crypto (keygen + sign + PEM)          {crypto,8:F3} ms  {Share(crypto, single)}");
        Program.WriteLine($"  of which key generation             {Mean("crypto: key"),8:F3} ms");
        Program.WriteLine($"ledger read (CA version, 1 query)     {reads,8:F3} ms  {Share(reads, single)}");
        Program.WriteLine($"ledger write (1 txn, sync=FULL)       {write,8:F3} ms  {Share(write, single)}");
        Program.WriteLine($"  of which the commit fsync (est.)    {sqliteFsync,8:F3} ms  (raw FULL - raw NORMAL)");
        Program.WriteLine($"files (generation, 4 files, links)    {publish,8:F3} ms  {Share(publish, single)}");
        Program.WriteLine($"  of which the 4 file fsyncs (est.)   {fileFsync,8:F3} ms  (4 writes fsync - no fsync)");
        Program.WriteLine($"sum of parts                          {sum,8:F3} ms  {Share(sum, single)}");
        Program.WriteLine($"unattributed (other reads, GC, ...)   {single - sum,8:F3} ms  {Share(single - sum, single)}");
        if (options.Parallel > 1)
        {
            Program.WriteLine($"(the parts were timed single-threaded; with {options.Parallel} workers they overlap, so the shares are indicative)");
        }
    }

    private static string Share(double part, double whole) => FormattableString.Invariant($"{100 * part / whole,5:F1} %");

    private static X509Certificate2 CreateLeaf(KeyPair key, string service, X509Certificate2 issuer, X509SignatureGenerator generator)
    {
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName(service);
        subject.AddOrganizationalUnitName("development");
        subject.AddOrganizationName("MtlsAspire");
        var request = key.CreateRequest(subject.Build());
        request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForEndEntity(critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(CertificateFacts.ServerAuthOid), new Oid(CertificateFacts.ClientAuthOid)], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri($"spiffe://mtls-aspire.local/ns/development/sa/{service}"));
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        var now = DateTimeOffset.UtcNow;
        return request.Create(issuer.SubjectName, generator, now.AddMinutes(-5), now.AddHours(24), RandomNumberGenerator.GetBytes(16));
    }

    /// <summary>
    /// The ledger's write transaction (supersede the service's active row, insert the row, insert the event) on a
    /// raw connection in WAL mode, so synchronous can be set: FULL (what the ledger uses) vs NORMAL.
    /// </summary>
    private static Measurement RawSqlite(string work, string synchronous, int n, int services)
    {
        var path = Path.Combine(work, $"raw-{synchronous}.db");
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        Execute(connection, null, $"""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = {synchronous};
            CREATE TABLE certificates (serial TEXT PRIMARY KEY, service TEXT, status TEXT NOT NULL, subject TEXT NOT NULL);
            CREATE INDEX certificates_service ON certificates(service, status);
            CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, serial TEXT, service TEXT, detail TEXT NOT NULL);
            """);
        return Measurement.Run($"sqlite raw txn, synchronous={synchronous}", n, i =>
        {
            var serial = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            var service = IssuanceRun.ServiceName(i % services);
            using var transaction = connection.BeginTransaction();
            Execute(connection, transaction, "UPDATE certificates SET status = 'superseded' WHERE service = $service AND status = 'active'",
                ("$service", service));
            Execute(connection, transaction, "INSERT INTO certificates (serial, service, status, subject) VALUES ($serial, $service, 'active', $subject)",
                ("$serial", serial), ("$service", service), ("$subject", "CN=" + service + ", OU=development, O=MtlsAspire"));
            Execute(connection, transaction, "INSERT INTO events (serial, service, detail) VALUES ($serial, $service, $detail)",
                ("$serial", serial), ("$service", service), ("$detail", "Issued serial " + serial));
            transaction.Commit();
        });
    }

    private static void Execute(SqliteConnection connection, SqliteTransaction? transaction, string sql, params (string Name, object Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        command.ExecuteNonQuery();
    }

    /// <summary>
    /// Just the four files of a generation written into a new 0700 directory, each flushed to disk or not. The two
    /// variants alternate in blocks, so both see the same file-system state (a run's create/delete churn makes inode
    /// allocation slower over time on some file systems).
    /// </summary>
    private static (Measurement WithFsync, Measurement WithoutFsync) FourWrites(string root, int n, CredentialFiles files)
    {
        const int block = 50;
        var elapsed = new TimeSpan[2];
        var cpu = new TimeSpan[2];
        var done = new int[2];
        SecureFiles.CreatePrivateDirectory(root);
        for (var start = 0; start < n; start += block)
        {
            var size = Math.Min(block, n - start);
            for (var variant = 0; variant < 2; variant++)
            {
                var flushToDisk = variant == 0;
                var m = Measurement.Run("", size, i =>
                {
                    var directory = Path.Combine(root, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{variant}-{start + i}"));
                    SecureFiles.CreatePrivateDirectory(directory);
                    SecureFiles.WriteNew(Path.Combine(directory, CredentialFiles.CertificateFileName), files.CertificatePem, SecureFiles.Public, flushToDisk);
                    SecureFiles.WriteNew(Path.Combine(directory, CredentialFiles.KeyFileName), files.KeyPem, SecureFiles.Secret, flushToDisk);
                    SecureFiles.WriteNew(Path.Combine(directory, CredentialFiles.BundleFileName), files.BundlePem, SecureFiles.Public, flushToDisk);
                    SecureFiles.WriteNew(Path.Combine(directory, CredentialFiles.CrlFileName), files.CrlPem, SecureFiles.Public, flushToDisk);
                }, collect: false);
                elapsed[variant] += m.Elapsed;
                cpu[variant] += m.Cpu;
                done[variant] += size;
            }
        }

        Directory.Delete(root, recursive: true);
        return (new Measurement("files: 4 writes, fsync", done[0], elapsed[0], cpu[0]),
            new Measurement("files: 4 writes, no-fsync", done[1], elapsed[1], cpu[1]));
    }
}
