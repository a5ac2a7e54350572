using System.Collections.Concurrent;

namespace MtlsAspire.Payment;

/// <summary>
/// Charges keyed by order id, the idempotency key: a retried charge returns the first one and never charges twice,
/// even when the retries run concurrently (one execution per key). The book is in memory, so the ledger is asked first:
/// a payment process killed after the ledger recorded a charge but before it answered is retried by the caller, and the
/// process that takes the retry finds the entry instead of recording a second one. The book keeps the newest
/// <see cref="Kept"/> charges, so that it does not grow under load; a retry of an older one is answered the same way, from
/// the ledger (charged) or by the amount (declined).
/// </summary>
public sealed class ChargeBook(LedgerClient ledger, TimeProvider time)
{
    public const decimal Limit = 1_000m;

    public const int Kept = 10_000;

    private readonly ConcurrentDictionary<string, Lazy<Task<Charge>>> _charges = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _executed = new();

    public sealed record Charge(string OrderId, decimal Amount, string Status, DateTimeOffset At);

    public Charge? Find(string orderId) =>
        _charges.TryGetValue(orderId, out var charge) && charge.Value.IsCompletedSuccessfully ? charge.Value.Result : null;

    public int Count => _charges.Count(c => c.Value.IsValueCreated && c.Value.Value.IsCompletedSuccessfully);

    /// <summary>Charges once per order. A declined charge is remembered too; a failure to record it is not (the retry tries again).</summary>
    public async Task<Charge> ChargeAsync(string orderId, decimal amount, CancellationToken cancellationToken)
    {
        var charge = _charges.GetOrAdd(orderId, _ => new Lazy<Task<Charge>>(() => ExecuteAsync(orderId, amount, cancellationToken)));
        try
        {
            return await charge.Value;
        }
        catch
        {
            _charges.TryRemove(new KeyValuePair<string, Lazy<Task<Charge>>>(orderId, charge));
            throw;
        }
    }

    private async Task<Charge> ExecuteAsync(string orderId, decimal amount, CancellationToken cancellationToken)
    {
        // Once per order id in the book (a Lazy runs once): the oldest go first, never one still under way among the newest.
        _executed.Enqueue(orderId);
        while (_charges.Count > Kept && _executed.TryDequeue(out var oldest))
        {
            _charges.TryRemove(oldest, out _);
        }

        if (amount <= 0 || amount > Limit)
        {
            return new Charge(orderId, amount, "declined", time.GetUtcNow());
        }

        if (await ledger.FindAsync(orderId, cancellationToken) is [var recorded, ..])
        {
            return new Charge(orderId, recorded.Amount, "charged", time.GetUtcNow());
        }

        await ledger.RecordAsync(orderId, amount, cancellationToken);
        return new Charge(orderId, amount, "charged", time.GetUtcNow());
    }
}
