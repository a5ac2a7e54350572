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
        var xfcc = context.Request.Headers["X-Forwarded-Client-Cert"].ToString();
        var entry = store.Add(request.OrderId, request.Amount, CallerOf(xfcc), xfcc.Length == 0 ? null : xfcc, time.GetUtcNow());
        return TypedResults.Created($"/api/ledger/entries?orderId={entry.OrderId}", entry);
    }

    private static Ok<IReadOnlyList<LedgerStore.Entry>> Find(string? orderId, LedgerStore store) => TypedResults.Ok(store.Find(orderId));

    /// <summary>The URI= field of the last element of an Envoy-format X-Forwarded-Client-Cert header.</summary>
    internal static string? CallerOf(string xfcc)
    {
        var last = xfcc.Split(',').LastOrDefault() ?? string.Empty;
        return last.Split(';').Select(f => f.Trim()).FirstOrDefault(f => f.StartsWith("URI=", StringComparison.Ordinal))?[4..];
    }
}
