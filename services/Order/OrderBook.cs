using System.Collections.Concurrent;

namespace MtlsAspire.Order;

/// <summary>
/// Orders placed: reserve stock, charge, confirm; release the reservation when the charge fails. A demo store in
/// memory that keeps the newest <see cref="Kept"/> orders (<c>GET /api/orders/{id}</c> of an older one is 404), so that a
/// service under load for days does not grow; a real one has a database.
/// </summary>
public sealed partial class OrderBook(InventoryClient inventory, PaymentClient payment, TimeProvider time, ILogger<OrderBook> logger)
{
    public const int Kept = 10_000;

    private readonly ConcurrentDictionary<string, PlacedOrder> _orders = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _placed = new();

    public sealed record PlacedOrder(string Id, string Sku, int Quantity, decimal Amount, string Status, string? Problem, DateTimeOffset At);

    public PlacedOrder? Find(string id) => _orders.GetValueOrDefault(id);

    public async Task<PlacedOrder> PlaceAsync(string sku, int quantity, decimal amount, CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid().ToString("N");
        InventoryClient.Reservation? reservation;
        string? shortage;
        try
        {
            (reservation, shortage) = await inventory.ReserveAsync(id, sku, quantity, cancellationToken);
        }
        catch (Exception e) when (Unreachable(e))
        {
            return Record(new PlacedOrder(id, sku, quantity, amount, "inventory-unavailable", $"inventory could not be reached: {e.Message}", time.GetUtcNow()));
        }

        if (reservation is null)
        {
            return Record(new PlacedOrder(id, sku, quantity, amount, "rejected", shortage, time.GetUtcNow()));
        }

        string? problem;
        var declined = false;
        try
        {
            problem = await payment.ChargeAsync(id, amount, cancellationToken);
            // 402 is payment's answer for a charge it declined (the amount); any other refusal is a fault.
            declined = problem?.StartsWith("payment answered 402:", StringComparison.Ordinal) == true;
        }
        catch (Exception e) when (Unreachable(e))
        {
            problem = $"payment could not be reached: {e.Message}";
        }

        if (problem is not null)
        {
            try
            {
                await inventory.ReleaseAsync(reservation.Id, cancellationToken);
            }
            catch (Exception e) when (Unreachable(e))
            {
                problem += $"; the reservation {reservation.Id} could not be released (inventory could not be reached: {e.Message})";
                declined = false;
            }

            if (declined)
            {
                LogDeclined(logger, id, reservation.Id, problem);
            }
            else
            {
                LogNotCharged(logger, id, reservation.Id, problem);
            }

            return Record(new PlacedOrder(id, sku, quantity, amount, "payment-failed", problem, time.GetUtcNow()));
        }

        return Record(new PlacedOrder(id, sku, quantity, amount, "confirmed", null, time.GetUtcNow()));
    }

    /// <summary>
    /// A callee that could not be reached: a transport error, a refused handshake, a timeout, or the resilience handler
    /// giving up with its own exceptions (circuit open, attempt timed out).
    /// </summary>
    private static bool Unreachable(Exception e) =>
        e is HttpRequestException or ServiceDefaults.Mtls.MtlsHandshakeException or TaskCanceledException or Polly.ExecutionRejectedException;

    [LoggerMessage(1, LogLevel.Warning, "Order {OrderId} not charged, reservation {Reservation} released: {Problem}")]
    private static partial void LogNotCharged(ILogger logger, string orderId, Guid reservation, string problem);

    // A charge payment declined is a business outcome, not a fault: Information (the order's span and status say it too).
    [LoggerMessage(2, LogLevel.Information, "Order {OrderId} declined by payment, reservation {Reservation} released: {Problem}")]
    private static partial void LogDeclined(ILogger logger, string orderId, Guid reservation, string problem);

    private PlacedOrder Record(PlacedOrder order)
    {
        _orders[order.Id] = order;
        _placed.Enqueue(order.Id);
        while (_orders.Count > Kept && _placed.TryDequeue(out var oldest))
        {
            _orders.TryRemove(oldest, out _);
        }

        return order;
    }
}
