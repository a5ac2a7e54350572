using Microsoft.AspNetCore.Http.HttpResults;
using MtlsAspire.ServiceDefaults.Authorization;
using MtlsAspire.ServiceDefaults.Http;

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

    private static SizedJson<IReadOnlyList<StockBook.Item>> GetItems(StockBook book) => SizedJson.Ok(book.Items());

    private static Results<SizedJson<StockBook.Item>, NotFound> GetItem(string sku, StockBook book) =>
        book.Find(sku) is { } item ? SizedJson.Ok(item) : TypedResults.NotFound();

    private static Results<SizedJson<StockBook.Reservation>, SizedJson<string>> Reserve(ReservationRequest request, StockBook book)
    {
        var (reservation, problem) = book.Reserve(request.OrderId, request.Sku, request.Quantity);
        return reservation is null
            ? SizedJson.Status(problem!, StatusCodes.Status409Conflict)
            : SizedJson.Created($"/api/inventory/reservations/{reservation.Id}", reservation);
    }

    private static Results<NoContent, NotFound> Release(Guid id, StockBook book) =>
        book.Release(id) ? TypedResults.NoContent() : TypedResults.NotFound();
}
