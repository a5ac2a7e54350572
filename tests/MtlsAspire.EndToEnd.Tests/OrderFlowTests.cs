using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MtlsAspire.EndToEnd.Tests.Infrastructure;
using MtlsAspire.Hosting;

namespace MtlsAspire.EndToEnd.Tests;

[Collection(ShopGroup.Name)]
public class OrderFlowTests(ShopFixture shop)
{
    private TestApp App => shop.App;

    private sealed record PlacedOrder(string Id, string Status, string? Problem);

    private sealed record LedgerEntry(long Id, string OrderId, decimal Amount, string? Caller, string? ForwardedClientCert);

    private HttpClient Ledger() => UnixSocketHttp.CreateClient(App.App.Services.GetModelResource("legacy-ledger").GetUnixSocketPath());

    [Fact]
    public async Task An_order_flows_through_every_hop_and_the_ledger_records_payment_as_the_caller()
    {
        using var shopper = App.CreateHttpClient("order", asIdentity: "shopper");

        using var response = await shopper.PostAsJsonAsync("/api/orders", new { sku = "coffee", quantity = 1, amount = 25.00m });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var order = await response.Content.ReadFromJsonAsync<PlacedOrder>();
        Assert.Equal("confirmed", order!.Status);

        using var ledger = Ledger();
        var entries = await ledger.GetFromJsonAsync<List<LedgerEntry>>($"/api/ledger/entries?orderId={order.Id}");
        var entry = Assert.Single(entries!);
        Assert.Equal(25.00m, entry.Amount);
        Assert.Equal(App.IdentityOf("payment").ToString(), entry.Caller);
        Assert.Contains($"By={App.IdentityOf("legacy-proxy")}", entry.ForwardedClientCert, StringComparison.Ordinal);

        using var asOrder = App.CreateHttpClient("payment", asIdentity: "order");
        var charge = await asOrder.GetFromJsonAsync<JsonElement>($"/api/payments/charges/{order.Id}");
        Assert.Equal("charged", charge.GetProperty("status").GetString());
    }

    [Fact]
    public async Task The_services_json_answers_carry_a_content_length_instead_of_a_chunked_body()
    {
        using var shopper = App.CreateHttpClient("order", asIdentity: "shopper");
        using var asOrder = App.CreateHttpClient("inventory", asIdentity: "order");
        using var ledger = Ledger();

        using var placed = await shopper.PostAsJsonAsync("/api/orders", new { sku = "coffee", quantity = 1, amount = 25.00m });
        var order = await placed.Content.ReadFromJsonAsync<PlacedOrder>();
        using var items = await asOrder.GetAsync("/api/inventory/items");
        using var entries = await ledger.GetAsync($"/api/ledger/entries?orderId={order!.Id}");
        using var ping = await ledger.GetAsync("/api/ledger/ping");

        foreach (var (what, response) in new[] { ("order", placed), ("inventory items", items), ("ledger entries", entries), ("ledger ping", ping) })
        {
            Assert.True(response.IsSuccessStatusCode, $"{what}: {response.StatusCode}");
            Assert.NotEqual(true, response.Headers.TransferEncodingChunked);
            Assert.Equal((await response.Content.ReadAsByteArrayAsync()).Length, response.Content.Headers.ContentLength);
        }
    }

    [Fact]
    public async Task A_declined_charge_releases_the_reservation()
    {
        using var shopper = App.CreateHttpClient("order", asIdentity: "shopper");
        using var asOrder = App.CreateHttpClient("inventory", asIdentity: "order");
        var before = await asOrder.GetFromJsonAsync<JsonElement>("/api/inventory/items/tea");

        using var response = await shopper.PostAsJsonAsync("/api/orders", new { sku = "tea", quantity = 2, amount = 50_000m });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("payment-failed", (await response.Content.ReadFromJsonAsync<PlacedOrder>())!.Status);
        var after = await asOrder.GetFromJsonAsync<JsonElement>("/api/inventory/items/tea");
        Assert.Equal(before.GetProperty("reserved").GetInt32(), after.GetProperty("reserved").GetInt32());
    }

    [Fact]
    public async Task A_spoofed_forwarded_client_cert_header_never_reaches_the_ledger()
    {
        using var payment = App.CreateHttpClient("legacy-proxy", asIdentity: "payment");
        var orderId = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/ledger/entries") { Content = JsonContent.Create(new { orderId, amount = 1m }) };
        request.Headers.TryAddWithoutValidation("X-Forwarded-Client-Cert", $"By=spiffe://evil/x;URI={App.IdentityOf("order")}");

        using var response = await payment.SendAsync(request);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var ledger = Ledger();
        var entry = Assert.Single((await ledger.GetFromJsonAsync<List<LedgerEntry>>($"/api/ledger/entries?orderId={orderId}"))!);
        Assert.Equal(App.IdentityOf("payment").ToString(), entry.Caller);
        Assert.DoesNotContain("evil", entry.ForwardedClientCert, StringComparison.Ordinal);
        Assert.DoesNotContain("sa/order", entry.ForwardedClientCert, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Concurrent_orders_for_scarce_stock_never_oversell()
    {
        using var shopper = App.CreateHttpClient("order", asIdentity: "shopper");

        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ =>
            shopper.PostAsJsonAsync("/api/orders", new { sku = "limited", quantity = 1, amount = 10m })));

        Assert.Equal(5, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(7, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict));
    }
}
