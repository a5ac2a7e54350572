using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MtlsAspire.ServiceDefaults.Mtls;

namespace MtlsAspire.Lifecycle.Bench;

/// <summary>What one order request came to.</summary>
internal enum Outcome
{
    /// <summary>201: reserved, charged (payment → legacy-proxy → legacy-ledger), confirmed.</summary>
    Charged,

    /// <summary>422 "payment answered 402": reserved, declined by payment, reservation released. An answer, not a failure.</summary>
    Declined,

    /// <summary>409: no stock left (the order never reached payment). Not a failure, but a shorter path: counted apart.</summary>
    OutOfStock,

    /// <summary>An exception, a 5xx, or a 422 whose reason is not payment's 402 (a hop behind order failed).</summary>
    Failed,
}

/// <summary>How many workers place orders, how many of them send <c>Connection: close</c>, and which orders are charged (every K-th).</summary>
internal sealed record LoadShape(int Workers, int ClosingWorkers, int ChargeEvery);

/// <summary>One request: when it started (Stopwatch ticks), how long it took, on which kind of connection, and how it ended.</summary>
internal readonly record struct Sample(long Started, double Milliseconds, bool NewConnection, Outcome Outcome, string? Error);

/// <summary>
/// The load: a fixed number of workers placing orders at <c>order</c>'s mTLS endpoint as the shopper, back to back.
/// The client is the shopper's own stack (<see cref="MtlsClientExtensions.AddMtlsClient"/> on the shopper's credential
/// directory): it presents the shopper's current chain, validates order against the current ca.crt and CRLs, and
/// swaps to a new connection pool when the files change. Without <c>AddServiceDefaults</c> there is no resilience
/// handler: every request is one attempt, so a refusal shows as a failure instead of a retry.
/// </summary>
internal sealed class OrderLoad : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private readonly HttpClient _client;
    private readonly LoadShape _shape;
    private readonly ConcurrentQueue<Sample> _samples = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _workers = [];
    private long _sequence;

    public OrderLoad(Uri order, string shopperCredentials, LoadShape shape, WarningLog warnings)
    {
        _shape = shape;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mtls:CredentialsDirectory"] = shopperCredentials,
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning).AddProvider(warnings));
        services.AddHttpClient("order", client =>
        {
            client.BaseAddress = order;
            client.Timeout = TimeSpan.FromSeconds(30);
        }).AddMtlsClient("order");
        _services = services.BuildServiceProvider();
        _client = _services.GetRequiredService<IHttpClientFactory>().CreateClient("order");
    }

    /// <summary>Every request so far.</summary>
    public IReadOnlyCollection<Sample> Samples => _samples;

    /// <summary>The credential generation the client's store has loaded (1 at start, +1 per reload).</summary>
    public long Generation => _services.GetRequiredService<MtlsCredentialStore>().Current.Generation;

    /// <summary>Starts the load given at construction, until <see cref="DisposeAsync"/>.</summary>
    public void Start() => _workers.AddRange(Workers(_shape, long.MaxValue, _stop.Token));

    /// <summary>
    /// Runs <paramref name="shape"/> on the same client (its pooled connections stay) until <paramref name="orders"/> more
    /// orders have been sent or <paramref name="duration"/> has passed, whichever comes first.
    /// </summary>
    public async Task RunAsync(LoadShape shape, long orders, TimeSpan duration, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        stop.CancelAfter(duration);
        var sent = Interlocked.Read(ref _sequence);
        await Task.WhenAll(Workers(shape, orders > long.MaxValue - sent ? long.MaxValue : sent + orders, stop.Token));
    }

    private List<Task> Workers(LoadShape shape, long last, CancellationToken stop) =>
        [.. Enumerable.Range(0, shape.Workers).Select(w => Task.Run(() => WorkAsync(shape, w < shape.ClosingWorkers, last, stop)))];

    private async Task WorkAsync(LoadShape shape, bool newConnection, long last, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var n = Interlocked.Increment(ref _sequence);
            if (n > last)
            {
                return;
            }

            var charged = n % shape.ChargeEvery == 0;
            var body = new { sku = n % 2 == 0 ? "coffee" : "tea", quantity = 1, amount = charged ? 12.50m : 5_000m };
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/orders") { Content = JsonContent.Create(body) };
            request.Headers.ConnectionClose = newConnection;
            var started = Stopwatch.GetTimestamp();
            Outcome outcome;
            string? error = null;
            try
            {
                using var response = await _client.SendAsync(request, stop);
                var text = await response.Content.ReadAsStringAsync(stop);
                (outcome, error) = Classify(response.StatusCode, text);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or MtlsHandshakeException or TaskCanceledException or IOException)
            {
                outcome = Outcome.Failed;
                error = Describe(e);
            }

            _samples.Enqueue(new Sample(started, Stopwatch.GetElapsedTime(started).TotalMilliseconds, newConnection, outcome, error));
        }
    }

    private static (Outcome, string?) Classify(HttpStatusCode status, string body) => status switch
    {
        HttpStatusCode.Created => (Outcome.Charged, null),
        HttpStatusCode.UnprocessableEntity when body.Contains("payment answered 402", StringComparison.Ordinal) => (Outcome.Declined, null),
        HttpStatusCode.Conflict => (Outcome.OutOfStock, null),
        _ => (Outcome.Failed, $"HTTP {(int)status}: {Shorten(body)}"),
    };

    private static string Describe(Exception e)
    {
        var text = $"{e.GetType().Name}: {e.Message}";
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            text += $" → {inner.GetType().Name}: {inner.Message}";
        }

        return Shorten(text);
    }

    private static string Shorten(string text) => text.Length <= 400 ? text : text[..400] + "…";

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_workers);
        _stop.Dispose();
        _client.Dispose();
        await _services.DisposeAsync();
    }
}
