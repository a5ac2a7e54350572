using MtlsAspire.ServiceDefaults.Http;

namespace MtlsAspire.LegacyLedger.Apis;

public static class LedgerApi
{
    private static readonly byte[] s_pong = "pong"u8.ToArray();

    /// <summary>No authentication of its own: the legacy app believes the X-Forwarded-Client-Cert its proxy sets.</summary>
    public static IEndpointRouteBuilder MapLedgerApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("api/ledger");
        api.MapPost("entries", Add);
        api.MapGet("entries", Find);
        // Liveness of the API path itself, through the proxy; what bench/compare.sh drives (no database work).
        api.MapGet("ping", Ping);
        return app;
    }

    public sealed record EntryRequest(string OrderId, decimal Amount);

    private static SizedJson<LedgerStore.Entry> Add(EntryRequest request, HttpContext context, LedgerStore store, TimeProvider time)
    {
        var xfcc = context.Request.Headers[ForwardedClientCert.HeaderName].ToString();
        var entry = store.Add(request.OrderId, request.Amount, ForwardedClientCert.CallerOf(xfcc), xfcc.Length == 0 ? null : xfcc, time.GetUtcNow());
        return SizedJson.Created($"/api/ledger/entries?orderId={entry.OrderId}", entry);
    }

    private static SizedJson<IReadOnlyList<LedgerStore.Entry>> Find(string? orderId, LedgerStore store) => SizedJson.Ok(store.Find(orderId));

    /// <summary>"pong" as a string return would send it (text/plain), but with a Content-Length instead of chunked.</summary>
    private static Task Ping(HttpContext context)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.ContentLength = s_pong.Length;
        return context.Response.Body.WriteAsync(s_pong, context.RequestAborted).AsTask();
    }
}
