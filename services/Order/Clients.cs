using System.Net;
using Microsoft.Extensions.Http.Resilience;

namespace MtlsAspire.Order;

/// <summary>inventory, called by its service-discovery name only.</summary>
public sealed class InventoryClient(HttpClient http)
{
    public sealed record Reservation(Guid Id, string OrderId, string Sku, int Quantity);

    public async Task<(Reservation? Reservation, string? Problem)> ReserveAsync(string orderId, string sku, int quantity, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync("/api/inventory/reservations", new { orderId, sku, quantity }, cancellationToken);
        if (response.StatusCode == HttpStatusCode.Conflict)
        {
            return (null, await response.Content.ReadAsStringAsync(cancellationToken));
        }

        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<Reservation>(cancellationToken), null);
    }

    public async Task ReleaseAsync(Guid reservation, CancellationToken cancellationToken)
    {
        using var response = await http.DeleteAsync($"/api/inventory/reservations/{reservation}", cancellationToken);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            response.EnsureSuccessStatusCode();
        }
    }
}

/// <summary>payment, called by its service-discovery name only.</summary>
public sealed class PaymentClient(HttpClient http)
{
    /// <summary>
    /// Aspire's standard handler, except that an answer from payment is an answer: a 502 says what behind payment failed
    /// (payment has retried it already) and is passed on, not retried into order's 30 s timeout and reported as "payment
    /// could not be reached". Failing to reach payment (a transport error, a timeout) is retried, which is safe because
    /// payment charges once per order, and opens the circuit.
    /// </summary>
    public static void Resilience(HttpStandardResilienceOptions options)
    {
        options.Retry.ShouldHandle = args => Unreachable(args.Outcome);
        options.CircuitBreaker.ShouldHandle = args => Unreachable(args.Outcome);

        static ValueTask<bool> Unreachable(Polly.Outcome<HttpResponseMessage> outcome) =>
            ValueTask.FromResult(outcome.Exception is not null && HttpClientResiliencePredicates.IsTransient(outcome));
    }

    /// <summary>Charges; returns null when payment declined or failed, with why.</summary>
    public async Task<string?> ChargeAsync(string orderId, decimal amount, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync("/api/payments/charges", new { orderId, amount }, cancellationToken);
        return response.IsSuccessStatusCode ? null : $"payment answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}";
    }
}
