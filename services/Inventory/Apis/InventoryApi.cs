using Microsoft.AspNetCore.Http.HttpResults;
using MtlsAspire.ServiceDefaults.Authorization;

namespace MtlsAspire.Inventory.Apis;

public static class InventoryApi
{
    /// <summary>Who may call: the resources that reference inventory in the app model (the AppHost sets them).</summary>
    public static IEndpointRouteBuilder MapInventoryApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("api/inventory").RequireReferencingCallers();
        api.MapGet("items", GetItems);
        api.MapGet("items/{sku}", GetItem);
        api.MapPost("reservations", Reserve);
        api.MapDelete("reservations/{id:guid}", Release);
        return app;
    }

    public sealed record ReservationRequest(string OrderId, string Sku, int Quantity);

    private static Ok<IReadOnlyList<StockBook.Item>> GetItems(StockBook book) => TypedResults.Ok(book.Items());

    private static Results<Ok<StockBook.Item>, NotFound> GetItem(string sku, StockBook book) =>
        book.Find(sku) is { } item ? TypedResults.Ok(item) : TypedResults.NotFound();

    private static Results<Created<StockBook.Reservation>, Conflict<string>> Reserve(ReservationRequest request, StockBook book)
    {
        var (reservation, problem) = book.Reserve(request.OrderId, request.Sku, request.Quantity);
        return reservation is null
            ? TypedResults.Conflict(problem!)
            : TypedResults.Created($"/api/inventory/reservations/{reservation.Id}", reservation);
    }

    private static Results<NoContent, NotFound> Release(Guid id, StockBook book) =>
        book.Release(id) ? TypedResults.NoContent() : TypedResults.NotFound();
}
