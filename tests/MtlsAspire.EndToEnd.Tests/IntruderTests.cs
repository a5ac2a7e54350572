using Microsoft.Extensions.DependencyInjection;
using MtlsAspire.EndToEnd.Tests.Infrastructure;

namespace MtlsAspire.EndToEnd.Tests;

[Collection(ShopGroup.Name)]
public class IntruderTests(ShopFixture shop)
{
    [Theory]
    [InlineData("payment", "refused the client certificate", ": no-certificate.")]
    [InlineData("payment", "refused the client certificate", ": unknown-ca.")]
    [InlineData("inventory", "refused the client certificate", ": expired.")]
    [InlineData("inventory", "refused the client certificate", ": revoked.")]
    [InlineData("payment", "refused the client certificate", ": wrong-eku.")]
    [InlineData("payment", "authorization denied spiffe://mtls-aspire.local/ns/development/sa/intruder", "calling payment POST /api/payments/charges")]
    public async Task Each_intruder_attempt_is_refused_by_its_target_with_its_own_reason(string target, string what, string reason)
    {
        var line = await shop.App.WaitForLogAsync(target, l => l.Contains(what, StringComparison.Ordinal) && l.Contains(reason, StringComparison.Ordinal));

        Assert.Contains(target, line, StringComparison.Ordinal); // the refusing side names itself
    }

    [Fact]
    public async Task The_intruder_never_gets_through()
    {
        await shop.App.WaitForLogAsync("intruder", l => l.Contains("refused", StringComparison.Ordinal));
        var loggers = shop.App.App.Services.GetRequiredService<ResourceLoggerService>();

        // Every attempt the intruder reports is a refusal; "it should have been refused" is what it logs when one is not.
        await foreach (var batch in loggers.GetAllAsync(shop.App.App.Services.GetModelResource("intruder")))
        {
            Assert.DoesNotContain(batch, l => l.Content.Contains("it should have been refused", StringComparison.Ordinal));
        }
    }
}
