using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aspire.Hosting;
using MtlsAspire.EndToEnd.Tests.Infrastructure;
using MtlsAspire.Hosting;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>
/// kill -9 of payment, then of inventory, while orders flow: the dashboard shows each exited, every order placed meanwhile
/// gets an answer that names the service that could not be reached, and once both are started again no order was charged
/// twice and no charge the ledger committed is missing — although order's resilience handler retries a charge whose
/// answer was lost.
/// </summary>
public class ServiceKillTests
{
    private sealed record PlacedOrder(string Id, string Status, string? Problem);

    private sealed record LedgerEntry(long Id, string OrderId, decimal Amount);

    private sealed record Outcome(HttpStatusCode? Status, PlacedOrder? Order, string? Error, int Phase);

    private const int BeforeKills = 0, PaymentRestarted = 1, InventoryRestarted = 2, LedgerKilled = 3, LedgerRestarted = 4, ProxyKilled = 5, ProxyRestarted = 6,
        OrderKilled = 7, OrderRestarted = 8;

    [Fact]
    public async Task Payment_then_inventory_killed_under_load_show_as_exited_callers_are_told_and_after_restarts_nothing_is_charged_twice_or_lost()
    {
        // The workers are in the model (order allows the shopper because it references order), the shopper places no orders itself.
        await using var app = await TestApp.StartAsync();
        using var shopper = app.CreateHttpClient("order", asIdentity: "shopper");
        shopper.Timeout = TimeSpan.FromSeconds(100); // order's own calls give up before this (resilience handler: 30 s in all)
        var outcomes = new ConcurrentQueue<Outcome>();
        var phase = BeforeKills;
        using var stop = new CancellationTokenSource();

        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(() => PlaceOrdersAsync(shopper, outcomes, () => Volatile.Read(ref phase), stop.Token))).ToList();
        try
        {
            await WaitFor(() => outcomes.Count(o => o.Order?.Status == "confirmed") >= 20, "20 orders confirmed before the kill", outcomes);
            await KillAndRestartAsync(app, "payment", () => outcomes.Any(o => o.Order?.Status == "payment-failed"), "an order refused for want of payment", outcomes);
            Volatile.Write(ref phase, PaymentRestarted);
            await WaitFor(() => outcomes.Count(o => o.Phase == PaymentRestarted && o.Order?.Status == "confirmed") >= 10, "10 orders confirmed after payment's restart", outcomes);

            await KillAndRestartAsync(app, "inventory", () => outcomes.Any(o => o.Order?.Status == "inventory-unavailable"), "an order refused for want of inventory", outcomes);
            Volatile.Write(ref phase, InventoryRestarted);
            await WaitFor(() => outcomes.Count(o => o.Phase == InventoryRestarted && o.Order?.Status == "confirmed") >= 10, "10 orders confirmed after inventory's restart", outcomes);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(workers);
        }

        // Every order got an answer from order itself (no transport error towards it), and each refusal names payment.
        Assert.True(outcomes.All(o => o.Error is null), string.Join("\n", outcomes.Where(o => o.Error is not null).Select(o => o.Error).Distinct().Take(5)));
        var failed = outcomes.Where(o => o.Order?.Status == "payment-failed").ToList();
        Assert.NotEmpty(failed);
        Assert.All(failed, o =>
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, o.Status);
            Assert.Contains("payment", o.Order!.Problem, StringComparison.Ordinal);
        });
        var unavailable = outcomes.Where(o => o.Order?.Status == "inventory-unavailable").ToList();
        Assert.NotEmpty(unavailable);
        Assert.All(unavailable, o =>
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, o.Status);
            Assert.Contains("inventory could not be reached", o.Order!.Problem, StringComparison.Ordinal);
        });
        Assert.All(outcomes, o => Assert.True(o.Order?.Status is "confirmed" or "payment-failed" or "inventory-unavailable", $"{o.Status} {o.Order?.Status}: {o.Order?.Problem}"));

        using var ledger = UnixSocketHttp.CreateClient(app.App.Services.GetModelResource("legacy-ledger").GetUnixSocketPath());
        var entries = await ledger.GetFromJsonAsync<List<LedgerEntry>>("/api/ledger/entries");
        var charges = entries!.GroupBy(e => e.OrderId).ToDictionary(g => g.Key, g => g.Count());
        // Never charged twice, even for an order whose charge was retried after payment died with it under way.
        Assert.All(charges, c => Assert.True(c.Value == 1, $"order {c.Key} has {c.Value} ledger entries"));
        // Nothing was charged for an order inventory could not reserve.
        Assert.All(unavailable, o => Assert.False(charges.ContainsKey(o.Order!.Id), $"order {o.Order.Id} was charged without a reservation"));
        // Every confirmed order's charge is in the ledger.
        Assert.All(outcomes.Where(o => o.Order?.Status == "confirmed"), o => Assert.True(charges.ContainsKey(o.Order!.Id), $"confirmed order {o.Order.Id} has no ledger entry"));
    }

    [Fact]
    public async Task Legacy_ledger_then_legacy_proxy_killed_under_load_callers_are_told_which_and_after_restarts_nothing_is_charged_twice_or_lost()
    {
        await using var app = await TestApp.StartAsync();
        using var shopper = app.CreateHttpClient("order", asIdentity: "shopper");
        shopper.Timeout = TimeSpan.FromSeconds(100); // order's own calls give up before this (resilience handler: 30 s in all)
        using var ledger = UnixSocketHttp.CreateClient(app.App.Services.GetModelResource("legacy-ledger").GetUnixSocketPath(), TimeSpan.FromSeconds(30));
        var outcomes = new ConcurrentQueue<Outcome>();
        var phase = BeforeKills;
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(() => PlaceOrdersAsync(shopper, outcomes, () => Volatile.Read(ref phase), stop.Token))).ToList();
        var committed = new List<LedgerEntry>();
        try
        {
            await WaitFor(() => outcomes.Count(o => o.Order?.Status == "confirmed") >= 20, "20 orders confirmed before the kill", outcomes);
            committed.AddRange((await ledger.GetFromJsonAsync<List<LedgerEntry>>("/api/ledger/entries"))!);
            Volatile.Write(ref phase, LedgerKilled);
            await KillAndRestartAsync(app, "legacy-ledger", () => outcomes.Any(o => o.Phase == LedgerKilled && o.Order?.Status == "payment-failed"),
                "an order refused for want of the ledger", outcomes);
            Volatile.Write(ref phase, LedgerRestarted);
            await WaitFor(() => outcomes.Count(o => o.Phase == LedgerRestarted && o.Order?.Status == "confirmed") >= 10, "10 orders confirmed after the ledger's restart", outcomes);

            committed.AddRange((await ledger.GetFromJsonAsync<List<LedgerEntry>>("/api/ledger/entries"))!.Where(e => committed.All(c => c.Id != e.Id)));
            Volatile.Write(ref phase, ProxyKilled);
            await KillAndRestartAsync(app, "legacy-proxy", () => outcomes.Any(o => o.Phase == ProxyKilled && o.Order?.Status == "payment-failed"),
                "an order refused for want of the proxy", outcomes);
            Volatile.Write(ref phase, ProxyRestarted);
            await WaitFor(() => outcomes.Count(o => o.Phase == ProxyRestarted && o.Order?.Status == "confirmed") >= 10, "10 orders confirmed after the proxy's restart", outcomes);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(workers);
        }

        // Every order got an answer from order itself, and each refusal says which hop behind payment could not be reached.
        Assert.True(outcomes.All(o => o.Error is null), string.Join("\n", outcomes.Where(o => o.Error is not null).Select(o => o.Error).Distinct().Take(5)));
        Assert.True(outcomes.All(o => o.Order?.Status is "confirmed" or "payment-failed"), Summary(outcomes));
        var failed = outcomes.Where(o => o.Order?.Status == "payment-failed").ToList();
        Assert.All(failed, o =>
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, o.Status);
            Assert.True(o.Order!.Problem!.Contains("legacy-ledger could not be reached", StringComparison.Ordinal)
                || o.Order.Problem.Contains("legacy-proxy could not be reached", StringComparison.Ordinal), o.Order.Problem);
        });
        Assert.Contains(failed, o => o.Phase == LedgerKilled && o.Order!.Problem!.Contains("legacy-ledger could not be reached", StringComparison.Ordinal));
        Assert.Contains(failed, o => o.Phase == ProxyKilled && o.Order!.Problem!.Contains("legacy-proxy could not be reached", StringComparison.Ordinal));

        var entries = (await ledger.GetFromJsonAsync<List<LedgerEntry>>("/api/ledger/entries"))!;
        // No entry the ledger had committed before a kill is gone, or changed.
        Assert.All(committed, c => Assert.Contains(c, entries));
        var charges = entries.GroupBy(e => e.OrderId).ToDictionary(g => g.Key, g => g.Count());
        Assert.All(charges, c => Assert.True(c.Value == 1, $"order {c.Key} has {c.Value} ledger entries"));
        Assert.All(outcomes.Where(o => o.Order?.Status == "confirmed"), o => Assert.True(charges.ContainsKey(o.Order!.Id), $"confirmed order {o.Order.Id} has no ledger entry"));
    }

    [Fact]
    public async Task Order_killed_under_load_fails_the_requests_in_flight_shows_as_exited_and_after_a_restart_takes_orders_without_charging_any_twice()
    {
        await using var app = await TestApp.StartAsync();
        using var shopper = app.CreateHttpClient("order", asIdentity: "shopper");
        // While order is down, DCP's proxy may take a connection and never complete it; like the shopper service's own
        // attempt timeout, a request gives up (a transport error for the caller) instead of waiting on it.
        shopper.Timeout = TimeSpan.FromSeconds(30);
        using var ledger = UnixSocketHttp.CreateClient(app.App.Services.GetModelResource("legacy-ledger").GetUnixSocketPath(), TimeSpan.FromSeconds(30));
        var outcomes = new ConcurrentQueue<Outcome>();
        var phase = BeforeKills;
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(() => PlaceOrdersAsync(shopper, outcomes, () => Volatile.Read(ref phase), stop.Token))).ToList();
        List<LedgerEntry> committed;
        try
        {
            await WaitFor(() => outcomes.Count(o => o.Order?.Status == "confirmed") >= 20, "20 orders confirmed before the kill", outcomes);
            committed = (await ledger.GetFromJsonAsync<List<LedgerEntry>>("/api/ledger/entries"))!;
            Volatile.Write(ref phase, OrderKilled);
            await KillAndRestartAsync(app, "order", () => outcomes.Any(o => o.Phase == OrderKilled && o.Error is not null), "a transport error for the shopper", outcomes);
            Volatile.Write(ref phase, OrderRestarted);
            await WaitFor(() => outcomes.Count(o => o.Phase == OrderRestarted && o.Order?.Status == "confirmed") >= 10, "10 orders confirmed after order's restart", outcomes);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(workers);
        }

        // The caller of a dead order is told by its transport (nothing answers), never by a made-up answer; before the
        // kill and after the restart every order is confirmed.
        Assert.Contains(outcomes, o => o.Phase == OrderKilled && o.Error is not null);
        Assert.True(outcomes.All(o => o.Order?.Status == "confirmed" || (o.Status is null && o.Phase is BeforeKills or OrderKilled)), Summary(outcomes));

        // Orders whose charge was under way when order died may be charged (the shopper never learnt their ids), but
        // none twice, no committed entry is gone, and every confirmed order is in the ledger.
        var entries = (await ledger.GetFromJsonAsync<List<LedgerEntry>>("/api/ledger/entries"))!;
        Assert.All(committed, c => Assert.Contains(c, entries));
        var charges = entries.GroupBy(e => e.OrderId).ToDictionary(g => g.Key, g => g.Count());
        Assert.All(charges, c => Assert.True(c.Value == 1, $"order {c.Key} has {c.Value} ledger entries"));
        Assert.All(outcomes.Where(o => o.Order?.Status == "confirmed"), o => Assert.True(charges.ContainsKey(o.Order!.Id), $"confirmed order {o.Order.Id} has no ledger entry"));
    }

    /// <summary>Places orders until <paramref name="stop"/>, each outcome tagged with the phase it was placed in.</summary>
    private static async Task PlaceOrdersAsync(HttpClient shopper, ConcurrentQueue<Outcome> outcomes, Func<int> phase, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var now = phase();
            try
            {
                // Not cancelled by stop: a request under way gets its answer.
                using var response = await shopper.PostAsJsonAsync("/api/orders", new { sku = "coffee", quantity = 1, amount = 2.50m }, CancellationToken.None);
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                outcomes.Enqueue(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.UnprocessableEntity or HttpStatusCode.ServiceUnavailable
                    ? new Outcome(response.StatusCode, JsonSerializer.Deserialize<PlacedOrder>(body, JsonSerializerOptions.Web), null, now)
                    : new Outcome(response.StatusCode, null, $"{(int)response.StatusCode}: {body}", now));
            }
            catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && e.InnerException is TimeoutException))
            {
                outcomes.Enqueue(new Outcome(null, null, $"{e.GetType().Name}: {e.Message}", now));
                // Pacing, not waiting for anything: a dead order refuses at once, and a tight loop would starve its restart.
                await Task.Delay(TimeSpan.FromMilliseconds(100), CancellationToken.None);
            }
        }
    }

    /// <summary>
    /// kill -9 of <paramref name="resource"/>; waits until the dashboard shows it exited and <paramref name="refused"/>
    /// holds, then starts it with the dashboard's Start command and waits until it is healthy.
    /// </summary>
    private static async Task KillAndRestartAsync(TestApp app, string resource, Func<bool> refused, string what, IEnumerable<Outcome> outcomes)
    {
        Assert.True(ProcessTree.Signal(app.ProcessId(resource), ProcessTree.Sigkill));
        // Generous: a restart on a 2-core machine running other test apps can take most of a minute to become healthy.
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var exited = await app.App.ResourceNotifications.WaitForResourceAsync(resource, e => e.Snapshot.State?.Text is "Exited" or "Finished", timeout.Token);
        Assert.NotEqual(0, exited.Snapshot.ExitCode);
        await WaitFor(refused, what, outcomes);

        var started = await app.App.ResourceCommands.ExecuteCommandAsync(resource, KnownResourceCommands.StartCommand);
        Assert.True(started.Success, started.Message);
        await app.App.ResourceNotifications.WaitForResourceHealthyAsync(resource, timeout.Token);
    }

    /// <summary>What the orders got, in the order each answer first came, by phase: "phase 3: 12 × payment-failed: …".</summary>
    private static string Summary(IEnumerable<Outcome> outcomes) =>
        string.Join("\n", outcomes.GroupBy(o => $"phase {o.Phase}: {o.Order?.Status ?? o.Status?.ToString() ?? "no answer"}: {Shorten(o.Order?.Problem ?? o.Error)}")
            .Select(g => $"{g.Count()} × {g.Key}"));

    /// <summary>Ids and ports out, so that answers alike group together.</summary>
    private static string? Shorten(string? text) =>
        text is null ? null : System.Text.RegularExpressions.Regex.Replace(text, "[0-9a-f]{32}|[0-9a-f-]{36}|:[0-9]{2,5}\\b", "…") is var shorter && shorter.Length > 300 ? shorter[..300] : shorter;

    /// <summary>Waits for <paramref name="condition"/> (90 s at most); on a timeout, says what the orders got so far.</summary>
    private static async Task WaitFor(Func<bool> condition, string what, IEnumerable<Outcome> outcomes)
    {
        try
        {
            await Eventually.Until(condition, what, TimeSpan.FromSeconds(90));
        }
        catch (Xunit.Sdk.XunitException e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}; the orders so far: " +
                Summary(outcomes));
        }
    }
}
