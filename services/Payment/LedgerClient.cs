using System.Text.Json;
using Microsoft.Extensions.Http.Resilience;

namespace MtlsAspire.Payment;

/// <summary>Records charges in the legacy ledger, through legacy-proxy (mTLS; the proxy speaks plain HTTP to the ledger).</summary>
public sealed class LedgerClient(HttpClient http)
{
    public sealed record LedgerEntry(string OrderId, decimal Amount);

    /// <summary>The entries the ledger holds for <paramref name="orderId"/>: a charge already recorded by an earlier process.</summary>
    public async Task<IReadOnlyList<LedgerEntry>> FindAsync(string orderId, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(() => http.GetAsync($"/api/ledger/entries?orderId={Uri.EscapeDataString(orderId)}", cancellationToken), cancellationToken);
        return await response.Content.ReadFromJsonAsync<List<LedgerEntry>>(cancellationToken) ?? [];
    }

    public async Task RecordAsync(string orderId, decimal amount, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(() => http.PostAsJsonAsync("/api/ledger/entries", new LedgerEntry(orderId, amount), cancellationToken), cancellationToken);
    }

    /// <summary>
    /// Aspire's standard handler, fitted inside order's 10 s per attempt (8 s in all) and made safe for a charge: a
    /// lookup is retried twice, quickly; a POST never (its answer may be lost after the ledger recorded it: the retry is
    /// order's, and <see cref="ChargeBook"/> asks the ledger first). Only failing to reach legacy-proxy opens the
    /// circuit: a 502 from the proxy is its answer that the ledger is down, and says so.
    /// </summary>
    public static void Resilience(HttpStandardResilienceOptions options)
    {
        options.Retry.MaxRetryAttempts = 2;
        options.Retry.Delay = TimeSpan.FromMilliseconds(200);
        options.Retry.DisableForUnsafeHttpMethods();
        options.AttemptTimeout.Timeout = TimeSpan.FromSeconds(3);
        options.TotalRequestTimeout.Timeout = TimeSpan.FromSeconds(8);
        options.CircuitBreaker.ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is not null && HttpClientResiliencePredicates.IsTransient(args.Outcome));
    }

    /// <summary>Sends; a failure says which hop failed: legacy-proxy unreachable, or its answer (which names the ledger when that is down).</summary>
    private static async Task<HttpResponseMessage> SendAsync(Func<Task<HttpResponseMessage>> send, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await send();
        }
        catch (Exception e) when (e is HttpRequestException or ServiceDefaults.Mtls.MtlsHandshakeException or Polly.ExecutionRejectedException)
        {
            throw new HttpRequestException($"legacy-proxy could not be reached: {e.Message}", e);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new HttpRequestException($"legacy-proxy answered {(int)response.StatusCode}: {Detail(body)}", null, response.StatusCode);
        }
    }

    /// <summary>A problem's detail, else the body as it is.</summary>
    private static string Detail(string body)
    {
        try
        {
            using var problem = JsonDocument.Parse(body);
            return problem.RootElement.ValueKind == JsonValueKind.Object && problem.RootElement.TryGetProperty("detail", out var detail)
                && detail.ValueKind == JsonValueKind.String ? detail.GetString()! : body;
        }
        catch (JsonException)
        {
            return body.Length == 0 ? "(no body)" : body;
        }
    }
}
