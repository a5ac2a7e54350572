using Microsoft.Playwright;

namespace MtlsAspire.Dashboard.Tests;

/// <summary>The structured logs page in a real browser.</summary>
[Collection(DashboardGroup.Name)]
public sealed class StructuredLogsPageTests(DashboardFixture fixture)
{
    [Fact]
    public async Task Searching_for_a_reason_shows_the_intruders_refusals_with_their_attributes()
    {
        var page = await fixture.Browser.OpenDashboardAsync(fixture);
        await page.GotoAsync("structuredlogs?logLevel=warning");
        // The message filter is a Fluent UI web component; Playwright's CSS reaches the input in its shadow root.
        await page.Locator("fluent-text-input[name=\"structured-logs-search\"] input").FillAsync("refused the client certificate");

        var rows = page.Locator("tr.fluent-data-grid-row");
        var unknownCa = rows.Filter(new() { HasText = ": unknown-ca." });
        await Assertions.Expect(unknownCa.First).ToBeVisibleAsync(new() { Timeout = 90_000 });
        await Assertions.Expect(unknownCa.First).ToContainTextAsync("payment");
        await Assertions.Expect(unknownCa.First).ToContainTextAsync("Warning");
        foreach (var (reason, service) in new[] { ("no-certificate", "payment"), ("expired", "inventory"), ("revoked", "inventory"), ("wrong-eku", "payment") })
        {
            var row = rows.Filter(new() { HasText = $": {reason}." }).First;
            await Assertions.Expect(row).ToBeVisibleAsync(new() { Timeout = 60_000 });
            await Assertions.Expect(row).ToContainTextAsync(service);
        }

        // Nothing but refusals matches the search.
        Assert.All(await rows.Filter(new() { HasText = "mTLS server" }).AllInnerTextsAsync(), text => Assert.Contains("refused the client certificate", text, StringComparison.Ordinal));
        await Screenshots.SaveAsync(page, "structured-logs-refusals");

        // The entry's details list its attributes.
        await unknownCa.First.Locator("td").Nth(3).ClickAsync();
        var details = page.Locator(".details-container");
        await Assertions.Expect(details.Locator("tr:has(.grid-value:text-is(\"Reason\"))").First).ToContainTextAsync("unknown-ca");
        await Assertions.Expect(details.Locator("tr:has(.grid-value:text-is(\"Self\"))").First).ToContainTextAsync("payment");
        await Screenshots.SaveAsync(page, "structured-log-refusal-details");
    }
}
