using Microsoft.AspNetCore.Http.HttpResults;
using MtlsAspire.ServiceDefaults.Authorization;
using MtlsAspire.ServiceDefaults.Http;

namespace MtlsAspire.Payment.Apis;

public static class PaymentsApi
{
    /// <summary>Who may call: the resources that reference payment in the app model (the AppHost sets them).</summary>
    public static IEndpointRouteBuilder MapPaymentsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("api/payments").RequireReferencingCallers();
        api.MapPost("charges", Charge);
        api.MapGet("charges/{orderId}", Get);
        return app;
    }

    public sealed record ChargeRequest(string OrderId, decimal Amount);

    private static async Task<Results<SizedJson<ChargeBook.Charge>, ProblemHttpResult>> Charge(ChargeRequest request, ChargeBook book, CancellationToken cancellationToken)
    {
        ChargeBook.Charge charge;
        try
        {
            charge = await book.ChargeAsync(request.OrderId, request.Amount, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or ServiceDefaults.Mtls.MtlsHandshakeException or TaskCanceledException or Polly.ExecutionRejectedException)
        {
            return TypedResults.Problem($"The charge could not be recorded in the ledger: {e.Message}", statusCode: StatusCodes.Status502BadGateway);
        }

        return charge.Status == "declined"
            ? TypedResults.Problem($"Charge of {charge.Amount} declined (limit {ChargeBook.Limit}).", statusCode: StatusCodes.Status402PaymentRequired)
            : SizedJson.Ok(charge);
    }

    private static Results<SizedJson<ChargeBook.Charge>, NotFound> Get(string orderId, ChargeBook book) =>
        book.Find(orderId) is { } charge ? SizedJson.Ok(charge) : TypedResults.NotFound();
}
