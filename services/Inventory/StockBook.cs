namespace MtlsAspire.Inventory;

/// <summary>
/// Items, stock and reservations. One lock: a reservation checks and takes stock atomically, so concurrent reservations
/// never oversell. Coffee and tea start with <c>Inventory:OnHand</c> units each (1,000); the limited mug with 5.
/// </summary>
public sealed class StockBook(IConfiguration configuration)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Item> _items = Stock(configuration.GetValue("Inventory:OnHand", 1_000));

    private readonly Dictionary<Guid, Reservation> _reservations = [];

    public sealed record Item(string Sku, string Name, int OnHand, int Reserved = 0)
    {
        public int Available => OnHand - Reserved;
    }

    public sealed record Reservation(Guid Id, string OrderId, string Sku, int Quantity);

    public IReadOnlyList<Item> Items()
    {
        lock (_lock)
        {
            return [.. _items.Values];
        }
    }

    public Item? Find(string sku)
    {
        lock (_lock)
        {
            return _items.GetValueOrDefault(sku);
        }
    }

    /// <summary>Reserves stock, or returns null with the reason when there is not enough.</summary>
    public (Reservation? Reservation, string? Problem) Reserve(string orderId, string sku, int quantity)
    {
        lock (_lock)
        {
            if (!_items.TryGetValue(sku, out var item))
            {
                return (null, $"unknown item '{sku}'");
            }

            if (quantity <= 0 || quantity > item.Available)
            {
                return (null, $"only {item.Available} of '{sku}' available, {quantity} asked");
            }

            var reservation = new Reservation(Guid.NewGuid(), orderId, sku, quantity);
            _items[sku] = item with { Reserved = item.Reserved + quantity };
            _reservations[reservation.Id] = reservation;
            return (reservation, null);
        }
    }

    /// <summary>Releases a reservation; false when it does not exist (already released).</summary>
    public bool Release(Guid id)
    {
        lock (_lock)
        {
            if (!_reservations.Remove(id, out var reservation))
            {
                return false;
            }

            var item = _items[reservation.Sku];
            _items[reservation.Sku] = item with { Reserved = item.Reserved - reservation.Quantity };
            return true;
        }
    }

    private static Dictionary<string, Item> Stock(int onHand)
    {
        if (onHand < 0)
        {
            throw new InvalidOperationException($"Inventory:OnHand must not be negative, not {onHand}.");
        }

        return new(StringComparer.Ordinal)
        {
            ["coffee"] = new("coffee", "Coffee beans, 1 kg", onHand),
            ["tea"] = new("tea", "Green tea, 250 g", onHand),
            ["limited"] = new("limited", "Limited edition mug", 5),
        };
    }
}
