using MtlsAspire.AppHost;
using MtlsAspire.Hosting.Testing;

namespace MtlsAspire.EndToEnd.Tests;

public class IntruderTests
{
    [Fact]
    public async Task Each_intruder_attempt_is_refused_with_its_own_reason()
    {
        var builder = MtlsTestingBuilder.Create(typeof(Program).Assembly, Program.Describe);
        builder.Builder.Resources.Single(r => r.Name == "shopper").Environment["Shopper__Enabled"] = "false";
        builder.Builder.Resources.Single(r => r.Name == "intruder").Environment["Intruder__Interval"] = "00:00:02";
        await using var app = builder.Build();
        await app.StartAsync();

        string[] expected =
        [
            "[payment] ", "refused the client certificate", ": no-certificate.",
            "[payment] ", "refused the client certificate", ": unknown-ca.",
            "[inventory] ", "refused the client certificate", ": expired.",
            "[inventory] ", "refused the client certificate", ": revoked.",
            "[payment] ", "refused the client certificate", ": wrong-eku.",
            "[payment] ", "authorization denied spiffe://mtls-aspire.local/ns/development/sa/intruder", "calling payment POST /api/payments/charges: allowed are order",
        ];
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var missing = Missing(app.Output, expected);
        while (missing.Count > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            missing = Missing(app.Output, expected);
        }

        Assert.True(missing.Count == 0, $"No log line for: {string.Join(" | ", missing)}\n{app.Output}");
        Assert.DoesNotContain("it should have been refused", app.Output, StringComparison.Ordinal);
    }

    /// <summary>The (resource, what, reason) triples with no line holding all three.</summary>
    private static List<string> Missing(string output, string[] triples)
    {
        var lines = output.Split('\n');
        var missing = new List<string>();
        for (var i = 0; i < triples.Length; i += 3)
        {
            var (resource, what, reason) = (triples[i], triples[i + 1], triples[i + 2]);
            if (!lines.Any(l => l.StartsWith(resource, StringComparison.Ordinal) && l.Contains(what, StringComparison.Ordinal) && l.Contains(reason, StringComparison.Ordinal)))
            {
                missing.Add($"{resource}{what} {reason}");
            }
        }

        return missing;
    }
}
