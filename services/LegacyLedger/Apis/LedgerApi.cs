using Microsoft.AspNetCore.Http.HttpResults;

namespace MtlsAspire.LegacyLedger.Apis;

public static class LedgerApi
{
    /// <summary>No authentication of its own: the legacy app believes the X-Forwarded-Client-Cert its proxy sets.</summary>
    public static IEndpointRouteBuilder MapLedgerApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("api/ledger");
        api.MapPost("entries", Add);
        api.MapGet("entries", Find);
        // Liveness of the API path itself, through the proxy; what bench/compare.sh drives (no database work).
        api.MapGet("ping", () => "pong");
        return app;
    }

    public sealed record EntryRequest(string OrderId, decimal Amount);

    private static Created<LedgerStore.Entry> Add(EntryRequest request, HttpContext context, LedgerStore store, TimeProvider time)
    {
        var xfcc = context.Request.Headers[ForwardedClientCert.HeaderName].ToString();
        var entry = store.Add(request.OrderId, request.Amount, ForwardedClientCert.CallerOf(xfcc), xfcc.Length == 0 ? null : xfcc, time.GetUtcNow());
        return TypedResults.Created($"/api/ledger/entries?orderId={entry.OrderId}", entry);
    }

    private static Ok<IReadOnlyList<LedgerStore.Entry>> Find(string? orderId, LedgerStore store) => TypedResults.Ok(store.Find(orderId));
}
