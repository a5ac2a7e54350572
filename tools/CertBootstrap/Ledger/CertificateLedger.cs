using System.Globalization;
using System.Numerics;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Data.Sqlite;

namespace MtlsAspire.CertBootstrap.Ledger;

/// <summary>
/// The durable record of everything the PKI issued and revoked, in SQLite (WAL, synchronous=FULL, busy timeout):
/// several processes may issue at once; the serial is the primary key, so a serial is never recorded twice.
/// </summary>
public sealed class CertificateLedger
{
    private const int SqlitePrimaryKeyTaken = 1555; // SQLITE_CONSTRAINT_PRIMARYKEY
    private const int SqliteUniqueTaken = 2067; // SQLITE_CONSTRAINT_UNIQUE
    private const string Columns =
        "serial, kind, subject, spiffe_id, service, issuer_serial, key_type, not_before, not_after, issued_at, status, " +
        "revoked_at, revocation_reason, dns_names, ip_addresses, lifetime_seconds, output_directory";

    private readonly string _connectionString;

    /// <summary>Opens (creating if needed) the ledger database at <paramref name="path"/>.</summary>
    public CertificateLedger(string path)
    {
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            DefaultTimeout = 30,
            Pooling = true,
        }.ToString();

        using var connection = Open();
        Execute(connection, """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS certificates (
                serial TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                subject TEXT NOT NULL,
                spiffe_id TEXT,
                service TEXT,
                issuer_serial TEXT,
                key_type TEXT NOT NULL,
                not_before TEXT NOT NULL,
                not_after TEXT NOT NULL,
                issued_at TEXT NOT NULL,
                status TEXT NOT NULL,
                revoked_at TEXT,
                revocation_reason INTEGER,
                dns_names TEXT NOT NULL DEFAULT '',
                ip_addresses TEXT NOT NULL DEFAULT '',
                lifetime_seconds INTEGER,
                output_directory TEXT);
            CREATE INDEX IF NOT EXISTS certificates_service ON certificates(service, status);
            CREATE INDEX IF NOT EXISTS certificates_issuer ON certificates(issuer_serial, status);
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            INSERT OR IGNORE INTO meta (key, value) VALUES ('ca_version', 0);
            CREATE TABLE IF NOT EXISTS crl_numbers (issuer_serial TEXT PRIMARY KEY, number INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS events (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at TEXT NOT NULL,
                kind TEXT NOT NULL,
                serial TEXT,
                service TEXT,
                detail TEXT NOT NULL);
            """);
        if (!HasColumn(connection, "events", "origin"))
        {
            // Ledgers from before: events had no origin (the process that recorded them).
            Execute(connection, "ALTER TABLE events ADD COLUMN origin INTEGER");
        }
    }

    private static bool HasColumn(SqliteConnection connection, string table, string column)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = $column";
        command.Parameters.AddWithValue("$column", column);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture) > 0;
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>
    /// Records a newly issued certificate and its event in one transaction. For a leaf, the service's previous
    /// active leaf becomes <see cref="CertificateStatus.Superseded"/>; for an intermediate, the previous active
    /// intermediate becomes <see cref="CertificateStatus.Retired"/>. Returns false (recording nothing) when the
    /// serial is already taken, so the caller issues again with a fresh serial.
    /// </summary>
    public bool TryRecordIssued(LedgerEntry entry, LedgerEvent @event) => TryRecordIssued([(entry, @event)]);

    /// <summary>
    /// Records certificates and their events, in order, in one transaction (one commit, one WAL flush), each as
    /// <see cref="TryRecordIssued(LedgerEntry, LedgerEvent)"/> does. Returns false (recording none of them) when a
    /// serial is already taken; any other failure throws, recording none of them either.
    /// </summary>
    public bool TryRecordIssued(IReadOnlyList<(LedgerEntry Entry, LedgerEvent Event)> issued)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        foreach (var (entry, @event) in issued)
        {
            if (entry.Kind == CertificateKind.Leaf)
            {
                Execute(connection, "UPDATE certificates SET status = 'superseded' WHERE kind = 'leaf' AND service = $service AND status = 'active'",
                    transaction, ("$service", entry.Service));
            }
            else if (entry.Kind == CertificateKind.Intermediate)
            {
                Execute(connection, "UPDATE certificates SET status = 'retired' WHERE kind = 'intermediate' AND status = 'active'", transaction);
            }

            if (entry.Kind != CertificateKind.Leaf)
            {
                BumpCaVersion(connection, transaction);
            }

            try
            {
                Insert(connection, transaction, entry);
            }
            catch (SqliteException e) when (e.SqliteExtendedErrorCode is SqlitePrimaryKeyTaken or SqliteUniqueTaken)
            {
                transaction.Rollback();
                return false;
            }

            InsertEvent(connection, transaction, @event);
        }

        transaction.Commit();
        return true;
    }

    /// <summary>Marks <paramref name="serial"/> revoked. Returns the updated entry; throws when the serial is unknown or already revoked.</summary>
    public LedgerEntry Revoke(string serial, X509RevocationReason reason, DateTimeOffset at, LedgerEvent @event)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        var entry = Query(connection, $"SELECT {Columns} FROM certificates WHERE serial = $serial", transaction, ("$serial", serial)).SingleOrDefault()
            ?? throw new KeyNotFoundException($"No certificate with serial {serial} was issued by this PKI (see 'list').");
        if (entry.Status == CertificateStatus.Revoked)
        {
            throw new InvalidOperationException($"Serial {serial} ({entry.Subject}) was already revoked on {entry.RevokedAt:u}.");
        }

        Execute(connection, "UPDATE certificates SET status = 'revoked', revoked_at = $at, revocation_reason = $reason WHERE serial = $serial", transaction,
            ("$at", Format(at)), ("$reason", (int)reason), ("$serial", serial));
        BumpCaVersion(connection, transaction);
        InsertEvent(connection, transaction, @event);
        transaction.Commit();
        return entry with { Status = CertificateStatus.Revoked, RevokedAt = at, RevocationReason = reason };
    }

    /// <summary>
    /// Moves <paramref name="serial"/> from <paramref name="from"/> to <paramref name="to"/> and records the event, in one
    /// transaction; returns false (changing nothing) when it is not in <paramref name="from"/> any more (another process
    /// got there first).
    /// </summary>
    public bool TryTransition(string serial, CertificateStatus from, CertificateStatus to, LedgerEvent @event)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "UPDATE certificates SET status = $to WHERE serial = $serial AND status = $from";
        command.Parameters.AddWithValue("$to", Name(to));
        command.Parameters.AddWithValue("$from", Name(from));
        command.Parameters.AddWithValue("$serial", serial);
        if (command.ExecuteNonQuery() != 1)
        {
            transaction.Rollback();
            return false;
        }

        BumpCaVersion(connection, transaction);
        InsertEvent(connection, transaction, @event);
        transaction.Commit();
        return true;
    }

    /// <summary>Whether <paramref name="issuerSerial"/> signed a leaf that is still within its validity at <paramref name="now"/> (whatever its status).</summary>
    public bool HasUnexpiredLeaves(string issuerSerial, DateTimeOffset now)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT EXISTS (SELECT 1 FROM certificates WHERE kind = 'leaf' AND issuer_serial = $issuer AND not_after > $now)";
        command.Parameters.AddWithValue("$issuer", issuerSerial);
        command.Parameters.AddWithValue("$now", Format(now));
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture) == 1;
    }

    /// <summary>Appends an event to the timeline.</summary>
    public void RecordEvent(LedgerEvent @event)
    {
        using var connection = Open();
        InsertEvent(connection, null, @event);
    }

    /// <summary>
    /// The next CRL number for <paramref name="issuerSerial"/> (strictly greater than any handed out before, across
    /// processes) and the revoked certificates that CRL must list, read in the same transaction so a higher number
    /// never lists less.
    /// </summary>
    public (BigInteger Number, IReadOnlyList<LedgerEntry> Revoked) NextCrl(string issuerSerial)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            INSERT INTO crl_numbers (issuer_serial, number) VALUES ($issuer, 1)
            ON CONFLICT (issuer_serial) DO UPDATE SET number = number + 1
            RETURNING number
            """;
        command.Parameters.AddWithValue("$issuer", issuerSerial);
        var number = Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
        var revoked = Query(connection, $"SELECT {Columns} FROM certificates WHERE issuer_serial = $issuer AND status = 'revoked'", transaction,
            ("$issuer", issuerSerial));
        BumpCaVersion(connection, transaction);
        transaction.Commit();
        return (number, revoked);
    }

    /// <summary>
    /// A number that changes whenever the CAs, their statuses or their CRLs change (in any process), so a reader can
    /// cache what it derives from them and check it with one query.
    /// </summary>
    public long CaVersion()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT value FROM meta WHERE key = 'ca_version'";
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>Changes <see cref="CaVersion"/>, e.g. once a new CRL file is in place.</summary>
    public void BumpCaVersion()
    {
        using var connection = Open();
        BumpCaVersion(connection, null);
    }

    private static void BumpCaVersion(SqliteConnection connection, SqliteTransaction? transaction) =>
        Execute(connection, "UPDATE meta SET value = value + 1 WHERE key = 'ca_version'", transaction);

    /// <summary>Every distinct directory a leaf was written to.</summary>
    public IReadOnlyList<string> OutputDirectories()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT DISTINCT output_directory FROM certificates WHERE kind = 'leaf' AND output_directory IS NOT NULL ORDER BY output_directory";
        using var reader = command.ExecuteReader();
        var directories = new List<string>();
        while (reader.Read())
        {
            directories.Add(reader.GetString(0));
        }

        return directories;
    }

    /// <summary>Every certificate, oldest first.</summary>
    public IReadOnlyList<LedgerEntry> All()
    {
        using var connection = Open();
        return Query(connection, $"SELECT {Columns} FROM certificates ORDER BY issued_at, rowid", null);
    }

    /// <summary>The certificate with <paramref name="serial"/>, or null.</summary>
    public LedgerEntry? Find(string serial)
    {
        using var connection = Open();
        return Query(connection, $"SELECT {Columns} FROM certificates WHERE serial = $serial", null, ("$serial", serial)).SingleOrDefault();
    }

    /// <summary>Certificates of <paramref name="kind"/> with <paramref name="status"/>, oldest first.</summary>
    public IReadOnlyList<LedgerEntry> Find(CertificateKind kind, CertificateStatus status)
    {
        using var connection = Open();
        return Query(connection, $"SELECT {Columns} FROM certificates WHERE kind = $kind AND status = $status ORDER BY issued_at, rowid", null,
            ("$kind", Name(kind)), ("$status", Name(status)));
    }

    /// <summary>The service's current (active) leaf, or null.</summary>
    public LedgerEntry? ActiveLeaf(string service)
    {
        using var connection = Open();
        return Query(connection, $"SELECT {Columns} FROM certificates WHERE kind = 'leaf' AND service = $service AND status = 'active' ORDER BY issued_at DESC, rowid DESC LIMIT 1",
            null, ("$service", service)).SingleOrDefault();
    }

    /// <summary>
    /// The events recorded after <paramref name="afterId"/> (0 for all), oldest first, with their id and the id of the
    /// process that recorded them: how a running AppHost learns what the CLI did.
    /// </summary>
    public IReadOnlyList<(long Id, int? Origin, LedgerEvent Event)> EventsAfter(long afterId)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, origin, at, kind, serial, service, detail FROM events WHERE id > $after ORDER BY id";
        command.Parameters.AddWithValue("$after", afterId);
        using var reader = command.ExecuteReader();
        var events = new List<(long, int?, LedgerEvent)>();
        while (reader.Read())
        {
            events.Add((reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetInt32(1),
                new LedgerEvent(ParseTime(reader.GetString(2)), reader.GetString(3), NullableString(reader, 4), NullableString(reader, 5), reader.GetString(6))));
        }

        return events;
    }

    /// <summary>The id of the last event recorded (0 when none).</summary>
    public long LastEventId()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COALESCE(MAX(id), 0) FROM events";
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>The lifecycle events, oldest first.</summary>
    public IReadOnlyList<LedgerEvent> Events()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT at, kind, serial, service, detail FROM events ORDER BY id";
        using var reader = command.ExecuteReader();
        var events = new List<LedgerEvent>();
        while (reader.Read())
        {
            events.Add(new LedgerEvent(ParseTime(reader.GetString(0)), reader.GetString(1), NullableString(reader, 2), NullableString(reader, 3), reader.GetString(4)));
        }

        return events;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        Execute(connection, "PRAGMA synchronous = FULL;");
        return connection;
    }

    private static void Insert(SqliteConnection connection, SqliteTransaction transaction, LedgerEntry e) =>
        Execute(connection, $"""
            INSERT INTO certificates ({Columns}) VALUES ($serial, $kind, $subject, $spiffe, $service, $issuer, $keyType, $notBefore, $notAfter,
                $issuedAt, $status, $revokedAt, $reason, $dns, $ips, $lifetime, $out)
            """, transaction,
            ("$serial", e.Serial), ("$kind", Name(e.Kind)), ("$subject", e.Subject), ("$spiffe", e.SpiffeId), ("$service", e.Service),
            ("$issuer", e.IssuerSerial), ("$keyType", e.KeyType), ("$notBefore", Format(e.NotBefore)), ("$notAfter", Format(e.NotAfter)),
            ("$issuedAt", Format(e.IssuedAt)), ("$status", Name(e.Status)), ("$revokedAt", e.RevokedAt is { } r ? Format(r) : null),
            ("$reason", (int?)e.RevocationReason), ("$dns", string.Join(',', e.DnsNames)), ("$ips", string.Join(',', e.IPAddresses)),
            ("$lifetime", (long?)e.Lifetime?.TotalSeconds), ("$out", e.OutputDirectory));

    private static void InsertEvent(SqliteConnection connection, SqliteTransaction? transaction, LedgerEvent e) =>
        Execute(connection, "INSERT INTO events (at, kind, serial, service, detail, origin) VALUES ($at, $kind, $serial, $service, $detail, $origin)", transaction,
            ("$at", Format(e.At)), ("$kind", e.Kind), ("$serial", e.Serial), ("$service", e.Service), ("$detail", e.Detail), ("$origin", Environment.ProcessId));

    private static List<LedgerEntry> Query(SqliteConnection connection, string sql, SqliteTransaction? transaction, params (string Name, object? Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        using var reader = command.ExecuteReader();
        var entries = new List<LedgerEntry>();
        while (reader.Read())
        {
            entries.Add(new LedgerEntry
            {
                Serial = reader.GetString(0),
                Kind = Enum.Parse<CertificateKind>(reader.GetString(1), ignoreCase: true),
                Subject = reader.GetString(2),
                SpiffeId = NullableString(reader, 3),
                Service = NullableString(reader, 4),
                IssuerSerial = NullableString(reader, 5),
                KeyType = reader.GetString(6),
                NotBefore = ParseTime(reader.GetString(7)),
                NotAfter = ParseTime(reader.GetString(8)),
                IssuedAt = ParseTime(reader.GetString(9)),
                Status = Enum.Parse<CertificateStatus>(reader.GetString(10), ignoreCase: true),
                RevokedAt = reader.IsDBNull(11) ? null : ParseTime(reader.GetString(11)),
                RevocationReason = reader.IsDBNull(12) ? null : (X509RevocationReason)reader.GetInt32(12),
                DnsNames = Split(reader.GetString(13)),
                IPAddresses = Split(reader.GetString(14)),
                Lifetime = reader.IsDBNull(15) ? null : TimeSpan.FromSeconds(reader.GetInt64(15)),
                OutputDirectory = NullableString(reader, 16),
            });
        }

        return entries;
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null, params (string Name, object? Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        command.ExecuteNonQuery();
    }

    private static string? NullableString(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static string[] Split(string value) => value.Length == 0 ? [] : value.Split(',');

    private static string Name<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();

    private static string Format(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    private static DateTimeOffset ParseTime(string value) =>
        DateTimeOffset.Parse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
}
