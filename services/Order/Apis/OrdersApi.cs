using Microsoft.AspNetCore.Http.HttpResults;
using MtlsAspire.ServiceDefaults.Authorization;
using MtlsAspire.ServiceDefaults.Http;

namespace MtlsAspire.Order.Apis;

public static class OrdersApi
{
    /// <summary>Who may call: the resources that reference order in the app model (the AppHost sets them).</summary>
    public static IEndpointRouteBuilder MapOrdersApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("api/orders").RequireReferencingCallers();
        api.MapPost("", Place);
        api.MapGet("{id}", Get);
        return app;
    }

    public sealed record OrderRequest(string Sku, int Quantity, decimal Amount);

    private static async Task<SizedJson<OrderBook.PlacedOrder>> Place(OrderRequest request, OrderBook orders, CancellationToken cancellationToken)
    {
        var order = await orders.PlaceAsync(request.Sku, request.Quantity, request.Amount, cancellationToken);
        return order.Status switch
        {
            "confirmed" => SizedJson.Created($"/api/orders/{order.Id}", order),
            "rejected" => SizedJson.Status(order, StatusCodes.Status409Conflict),
            // Nothing was reserved or charged: try again later.
            "inventory-unavailable" => SizedJson.Status(order, StatusCodes.Status503ServiceUnavailable),
            _ => SizedJson.Status(order, StatusCodes.Status422UnprocessableEntity),
        };
    }

    private static Results<SizedJson<OrderBook.PlacedOrder>, NotFound> Get(string id, OrderBook orders) =>
        orders.Find(id) is { } order ? SizedJson.Ok(order) : TypedResults.NotFound();
}
