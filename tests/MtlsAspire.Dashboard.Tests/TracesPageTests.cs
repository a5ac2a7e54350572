using Microsoft.Playwright;

namespace MtlsAspire.Dashboard.Tests;

/// <summary>The traces of the shopper's orders: through the API, then on the trace page.</summary>
[Collection(DashboardGroup.Name)]
public sealed class TracesPageTests(DashboardFixture fixture)
{
    private const int Server = 2;
    private const int Client = 3;

    [Fact]
    public async Task A_successful_orders_trace_shows_every_hop_from_the_shopper_to_the_ledger()
    {
        using var api = await TelemetryApi.ConnectAsync(fixture.DashboardUrl, fixture.BrowserToken);
        // The shopper orders every 3 s; spans of one trace reach the dashboard from five processes, each in its own batch.
        var spans = await Eventually.UntilAsync(ct => api.SpansAsync(cancellationToken: ct),
            spans => SuccessfulOrder(spans) is not null, TimeSpan.FromMinutes(3),
            spans => "no complete trace of a successful order (shopper → order → inventory and payment → legacy-proxy → legacy-ledger); order answered: "
                + string.Join(", ", spans.Where(s => s.Resource == "order" && s.Kind == Server).Select(s => s.Attributes.GetValueOrDefault("http.response.status_code")).TakeLast(10)));
        var traceId = SuccessfulOrder(spans)!;

        var page = await fixture.Browser.OpenDashboardAsync(fixture);
        await page.GotoAsync($"traces/detail/{traceId}");
        // Each span is a row of the trace's grid, with its resource in a cell of its own.
        foreach (var hop in new[] { "shopper", "order", "inventory", "payment", "legacy-proxy", "legacy-ledger" })
        {
            await Assertions.Expect(page.GetByRole(AriaRole.Gridcell, new() { Name = hop, Exact = true }).First).ToBeVisibleAsync(new() { Timeout = 30_000 });
        }

        await Screenshots.SaveAsync(page, "order-trace");
    }

    /// <summary>
    /// The id of a trace where order answered 2xx and every hop is there and succeeded, each server span the child of its
    /// caller's client span: shopper → order → inventory and payment → legacy-proxy → legacy-ledger (plain HTTP on its socket).
    /// </summary>
    private static string? SuccessfulOrder(IReadOnlyList<SpanRecord> spans)
    {
        foreach (var trace in spans.GroupBy(s => s.TraceId).Reverse())
        {
            var byId = trace.ToDictionary(s => s.SpanId);
            bool CalledBy(SpanRecord server, string caller) =>
                server.ParentSpanId is { } parent && byId.TryGetValue(parent, out var client) && client.Resource == caller && client.Kind == Client;
            bool Hop(string callee, string caller) => trace.Any(s => s.Resource == callee && s.Kind == Server && CalledBy(s, caller) && Succeeded(s));

            var order = trace.FirstOrDefault(s => s.Resource == "order" && s.Kind == Server && s.Name.Contains("api/orders", StringComparison.Ordinal));
            if (order is not null && Succeeded(order) && CalledBy(order, "shopper")
                && Hop("inventory", "order") && Hop("payment", "order") && Hop("legacy-proxy", "payment") && Hop("legacy-ledger", "legacy-proxy"))
            {
                return trace.Key;
            }
        }

        return null;
    }

    private static bool Succeeded(SpanRecord span) =>
        span.Attributes.GetValueOrDefault("http.response.status_code") is { Length: 3 } status && status[0] == '2';
}
