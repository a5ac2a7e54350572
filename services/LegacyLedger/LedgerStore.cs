using Microsoft.Data.Sqlite;

namespace MtlsAspire.LegacyLedger;

/// <summary>Ledger entries in SQLite, each with the caller identity the proxy vouched for.</summary>
public sealed class LedgerStore
{
    private readonly string _connectionString;

    public LedgerStore(IConfiguration configuration, IHostEnvironment environment)
    {
        var path = configuration["Ledger:Database"] is { Length: > 0 } configured ? configured : Path.Combine(environment.ContentRootPath, "ledger.db");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path }.ToString();
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS entries (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                order_id TEXT NOT NULL,
                amount TEXT NOT NULL,
                caller TEXT,
                forwarded_client_cert TEXT,
                recorded_at TEXT NOT NULL)
            """;
        command.ExecuteNonQuery();
    }

    public sealed record Entry(long Id, string OrderId, decimal Amount, string? Caller, string? ForwardedClientCert, DateTimeOffset RecordedAt);

    public Entry Add(string orderId, decimal amount, string? caller, string? forwardedClientCert, DateTimeOffset at)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO entries (order_id, amount, caller, forwarded_client_cert, recorded_at) VALUES ($order, $amount, $caller, $xfcc, $at)
            RETURNING id
            """;
        command.Parameters.AddWithValue("$order", orderId);
        command.Parameters.AddWithValue("$amount", amount.ToString(System.Globalization.CultureInfo.InvariantCulture));
        command.Parameters.AddWithValue("$caller", (object?)caller ?? DBNull.Value);
        command.Parameters.AddWithValue("$xfcc", (object?)forwardedClientCert ?? DBNull.Value);
        command.Parameters.AddWithValue("$at", at.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        var id = (long)command.ExecuteScalar()!;
        return new Entry(id, orderId, amount, caller, forwardedClientCert, at);
    }

    public IReadOnlyList<Entry> Find(string? orderId)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, order_id, amount, caller, forwarded_client_cert, recorded_at FROM entries WHERE $order IS NULL OR order_id = $order ORDER BY id";
        command.Parameters.AddWithValue("$order", (object?)orderId ?? DBNull.Value);
        using var reader = command.ExecuteReader();
        var entries = new List<Entry>();
        while (reader.Read())
        {
            entries.Add(new Entry(reader.GetInt64(0), reader.GetString(1), decimal.Parse(reader.GetString(2), System.Globalization.CultureInfo.InvariantCulture),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4),
                DateTimeOffset.Parse(reader.GetString(5), System.Globalization.CultureInfo.InvariantCulture)));
        }

        return entries;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }
}
