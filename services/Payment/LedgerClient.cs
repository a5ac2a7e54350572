namespace MtlsAspire.Payment;

/// <summary>Records charges in the legacy ledger, through legacy-proxy (mTLS; the proxy speaks plain HTTP to the ledger).</summary>
public sealed class LedgerClient(HttpClient http)
{
    public sealed record LedgerEntry(string OrderId, decimal Amount);

    /// <summary>The entries the ledger holds for <paramref name="orderId"/>: a charge already recorded by an earlier process.</summary>
    public async Task<IReadOnlyList<LedgerEntry>> FindAsync(string orderId, CancellationToken cancellationToken) =>
        await http.GetFromJsonAsync<List<LedgerEntry>>($"/api/ledger/entries?orderId={Uri.EscapeDataString(orderId)}", cancellationToken) ?? [];

    public async Task RecordAsync(string orderId, decimal amount, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync("/api/ledger/entries", new LedgerEntry(orderId, amount), cancellationToken);
        response.EnsureSuccessStatusCode();
    }
}
