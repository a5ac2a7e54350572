using System.Net.Http.Json;
using Microsoft.Extensions.Options;

namespace MtlsAspire.Shopper;

public sealed class ShopperOptions
{
    public const string SectionName = "Shopper";

    /// <summary>Off switch for the demo traffic.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Time between orders.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Every Nth order asks order to close the connection afterwards, so the next one makes a new (resumed) TLS connection; 0: never.</summary>
    public int CloseConnectionEvery { get; set; }
}

/// <summary>Steady demo traffic: places an order every few seconds (sometimes one payment declines, to show the release path).</summary>
public sealed partial class ShopperWorker(HttpClient order, IOptions<ShopperOptions> options, TimeProvider time, ILogger<ShopperWorker> logger) : BackgroundService
{
    private static readonly string[] s_skus = ["coffee", "tea", "coffee", "tea", "limited"];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            LogDisabled(logger);
            return;
        }

        using var timer = new PeriodicTimer(options.Value.Interval, time);
        var n = 0;
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            n++;
            var sku = s_skus[n % s_skus.Length];
            var amount = n % 7 == 0 ? 5_000m : 12.50m * (1 + (n % 4)); // every 7th exceeds payment's limit
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/api/orders") { Content = JsonContent.Create(new { sku, quantity = 1, amount }) };
                request.Headers.ConnectionClose = options.Value.CloseConnectionEvery > 0 && n % options.Value.CloseConnectionEvery == 0;
                using var response = await order.SendAsync(request, stoppingToken);
                // A declined payment (402) or an unknown product is an answer; a server error is a failed request.
                LogPlaced(logger, sku, amount, (int)response.StatusCode, (int)response.StatusCode >= 500 ? "(request failed)" : "(request ok)");
            }
            // Whatever became of this order (refused, unreachable, timed out by the resilience handler's
            // TimeoutRejectedException, ...), the next one is placed: a throw here would stop the host.
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogFailed(logger, e.Message);
            }
        }
    }

    [LoggerMessage(1, LogLevel.Information, "Shopper is switched off (Shopper:Enabled=false)")]
    private static partial void LogDisabled(ILogger logger);

    // The (request ok) / (request failed) markers are what the AppHost's fire drill counts (WithRequestOutcomes).
    [LoggerMessage(2, LogLevel.Information, "Ordered 1 {Sku} for {Amount}: order answered {Status} {Outcome}")]
    private static partial void LogPlaced(ILogger logger, string sku, decimal amount, int status, string outcome);

    [LoggerMessage(3, LogLevel.Warning, "Order failed: {Reason} (request failed)")]
    private static partial void LogFailed(ILogger logger, string reason);
}
