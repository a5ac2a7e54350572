using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using Aspire.Hosting;
using MtlsAspire.EndToEnd.Tests.Infrastructure;
using MtlsAspire.Hosting;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>
/// kill -9 of payment while orders flow: the dashboard shows it exited, every order placed meanwhile gets an answer that
/// says payment could not be reached, and once payment is started again no order was charged twice and no charge the
/// ledger committed is missing — although order's resilience handler retries a charge whose answer was lost.
/// </summary>
public partial class ServiceKillTests
{
    private sealed record PlacedOrder(string Id, string Status, string? Problem);

    private sealed record LedgerEntry(long Id, string OrderId, decimal Amount);

    private sealed record Outcome(HttpStatusCode? Status, PlacedOrder? Order, string? Error, bool AfterRestart);

    [Fact]
    public async Task Payment_killed_under_load_shows_as_exited_callers_are_told_and_after_a_restart_nothing_is_charged_twice_or_lost()
    {
        // The workers are in the model (order allows the shopper because it references order), the shopper places no orders itself.
        await using var app = await TestApp.StartAsync();
        using var shopper = app.CreateHttpClient("order", asIdentity: "shopper");
        shopper.Timeout = TimeSpan.FromSeconds(100); // order's own calls give up before this (resilience handler: 30 s in all)
        var outcomes = new ConcurrentQueue<Outcome>();
        var restarted = false;
        using var stop = new CancellationTokenSource();

        async Task Place()
        {
            while (!stop.IsCancellationRequested)
            {
                var after = Volatile.Read(ref restarted);
                try
                {
                    using var response = await shopper.PostAsJsonAsync("/api/orders", new { sku = "coffee", quantity = 1, amount = 2.50m });
                    var body = await response.Content.ReadAsStringAsync();
                    outcomes.Enqueue(response.StatusCode is HttpStatusCode.Created or HttpStatusCode.UnprocessableEntity
                        ? new Outcome(response.StatusCode, JsonSerializer.Deserialize<PlacedOrder>(body, JsonSerializerOptions.Web), null, after)
                        : new Outcome(response.StatusCode, null, $"{(int)response.StatusCode}: {body}", after));
                }
                catch (HttpRequestException e)
                {
                    outcomes.Enqueue(new Outcome(null, null, e.Message, after));
                }
            }
        }

        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(Place)).ToList();
        try
        {
            await WaitFor(() => outcomes.Count(o => o.Order?.Status == "confirmed") >= 20, "20 orders confirmed before the kill", outcomes);
            var payment = app.ProcessId("payment");
            Assert.Equal(0, Kill(payment, 9));

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            var exited = await app.App.ResourceNotifications.WaitForResourceAsync("payment",
                e => e.Snapshot.State?.Text is "Exited" or "Finished", timeout.Token);
            Assert.NotEqual(0, exited.Snapshot.ExitCode);
            await WaitFor(() => outcomes.Any(o => o.Order?.Status == "payment-failed"), "an order refused for want of payment", outcomes);

            var started = await app.App.ResourceCommands.ExecuteCommandAsync("payment", KnownResourceCommands.StartCommand);
            Assert.True(started.Success, started.Message);
            await app.App.ResourceNotifications.WaitForResourceHealthyAsync("payment", timeout.Token);
            Volatile.Write(ref restarted, true);
            await WaitFor(() => outcomes.Count(o => o.AfterRestart && o.Order?.Status == "confirmed") >= 10, "10 orders confirmed after the restart", outcomes);
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
        Assert.All(outcomes, o => Assert.True(o.Order?.Status is "confirmed" or "payment-failed", $"{o.Status} {o.Order?.Status}: {o.Order?.Problem}"));

        using var ledger = UnixSocketHttp.CreateClient(app.App.Services.GetModelResource("legacy-ledger").GetUnixSocketPath());
        var entries = await ledger.GetFromJsonAsync<List<LedgerEntry>>("/api/ledger/entries");
        var charges = entries!.GroupBy(e => e.OrderId).ToDictionary(g => g.Key, g => g.Count());
        // Never charged twice, even for an order whose charge was retried after payment died with it under way.
        Assert.All(charges, c => Assert.True(c.Value == 1, $"order {c.Key} has {c.Value} ledger entries"));
        // Every confirmed order's charge is in the ledger.
        Assert.All(outcomes.Where(o => o.Order?.Status == "confirmed"), o => Assert.True(charges.ContainsKey(o.Order!.Id), $"confirmed order {o.Order.Id} has no ledger entry"));
    }

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
                string.Join("; ", outcomes.GroupBy(o => o.Error is { } error ? error[..Math.Min(error.Length, 120)] : o.Order?.Status ?? "?")
                    .Select(g => $"{g.Count()} × {g.Key}")));
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
