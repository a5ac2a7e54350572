using Microsoft.AspNetCore.Http.HttpResults;
using MtlsAspire.ServiceDefaults.Authorization;

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

    private static async Task<Results<Created<OrderBook.PlacedOrder>, Conflict<OrderBook.PlacedOrder>, UnprocessableEntity<OrderBook.PlacedOrder>,
        JsonHttpResult<OrderBook.PlacedOrder>>> Place(OrderRequest request, OrderBook orders, CancellationToken cancellationToken)
    {
        var order = await orders.PlaceAsync(request.Sku, request.Quantity, request.Amount, cancellationToken);
        return order.Status switch
        {
            "confirmed" => TypedResults.Created($"/api/orders/{order.Id}", order),
            "rejected" => TypedResults.Conflict(order),
            // Nothing was reserved or charged: try again later.
            "inventory-unavailable" => TypedResults.Json(order, statusCode: StatusCodes.Status503ServiceUnavailable),
            _ => TypedResults.UnprocessableEntity(order),
        };
    }

    private static Results<Ok<OrderBook.PlacedOrder>, NotFound> Get(string id, OrderBook orders) =>
        orders.Find(id) is { } order ? TypedResults.Ok(order) : TypedResults.NotFound();
}
