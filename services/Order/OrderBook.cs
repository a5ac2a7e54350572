using System.Collections.Concurrent;

namespace MtlsAspire.Order;

/// <summary>Orders placed: reserve stock, charge, confirm; release the reservation when the charge fails.</summary>
public sealed partial class OrderBook(InventoryClient inventory, PaymentClient payment, TimeProvider time, ILogger<OrderBook> logger)
{
    private readonly ConcurrentDictionary<string, PlacedOrder> _orders = new(StringComparer.Ordinal);

    public sealed record PlacedOrder(string Id, string Sku, int Quantity, decimal Amount, string Status, string? Problem, DateTimeOffset At);

    public PlacedOrder? Find(string id) => _orders.GetValueOrDefault(id);

    public async Task<PlacedOrder> PlaceAsync(string sku, int quantity, decimal amount, CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid().ToString("N");
        var (reservation, shortage) = await inventory.ReserveAsync(id, sku, quantity, cancellationToken);
        if (reservation is null)
        {
            return Record(new PlacedOrder(id, sku, quantity, amount, "rejected", shortage, time.GetUtcNow()));
        }

        string? problem;
        try
        {
            problem = await payment.ChargeAsync(id, amount, cancellationToken);
        }
        // The resilience handler gives up with its own exceptions (circuit open, attempt timed out): payment is unreachable too.
        catch (Exception e) when (e is HttpRequestException or ServiceDefaults.Mtls.MtlsHandshakeException or TaskCanceledException or Polly.ExecutionRejectedException)
        {
            problem = $"payment could not be reached: {e.Message}";
        }

        if (problem is not null)
        {
            await inventory.ReleaseAsync(reservation.Id, cancellationToken);
            LogNotCharged(logger, id, reservation.Id, problem);
            return Record(new PlacedOrder(id, sku, quantity, amount, "payment-failed", problem, time.GetUtcNow()));
        }

        return Record(new PlacedOrder(id, sku, quantity, amount, "confirmed", null, time.GetUtcNow()));
    }

    [LoggerMessage(1, LogLevel.Warning, "Order {OrderId} not charged, reservation {Reservation} released: {Problem}")]
    private static partial void LogNotCharged(ILogger logger, string orderId, Guid reservation, string problem);

    private PlacedOrder Record(PlacedOrder order)
    {
        _orders[order.Id] = order;
        return order;
    }
}
