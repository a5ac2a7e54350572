using Microsoft.Playwright;

namespace MtlsAspire.Dashboard.Tests;

/// <summary>The structured logs page in a real browser.</summary>
[Collection(DashboardGroup.Name)]
public sealed class StructuredLogsPageTests(DashboardFixture fixture)
{
    private const string Refused = "refused the client certificate";

    [Fact]
    public async Task Searching_the_warnings_shows_the_intruders_refusals_with_their_attributes()
    {
        var page = await fixture.Browser.OpenDashboardAsync(fixture);
        await page.GotoAsync("structuredlogs?logLevel=warning");
        var rows = page.Locator("tr[role=row]:has(td[role=gridcell])");
        await Assertions.Expect(rows.Filter(new() { HasText = Refused }).First).ToBeVisibleAsync(new() { Timeout = 90_000 });
        Assert.NotEqual(0, await rows.Filter(new() { HasNotText = Refused }).CountAsync()); // other warnings too (403s), until the search

        await DashboardPage.SearchAsync(page.Locator("fluent-text-input[name=\"structured-logs-search\"] input"), Refused,
            rows.Filter(new() { HasNotText = Refused }));

        foreach (var (reason, service) in new[] { ("no-certificate", "payment"), ("unknown-ca", "payment"), ("expired", "inventory"), ("revoked", "inventory"), ("wrong-eku", "payment") })
        {
            var row = rows.Filter(new() { HasText = $": {reason}." }).First;
            await Assertions.Expect(row).ToBeVisibleAsync(new() { Timeout = 60_000 });
            await Assertions.Expect(row).ToContainTextAsync(service);
            await Assertions.Expect(row).ToContainTextAsync("Warning");
        }

        await Screenshots.SaveAsync(page, "structured-logs-refusals");

        // The entry's details list its attributes.
        await rows.Filter(new() { HasText = ": unknown-ca." }).First.Locator("td").Nth(3).ClickAsync();
        var details = page.Locator(".details-container");
        await Assertions.Expect(details.Locator("tr:has(.grid-value:text-is(\"Reason\"))").First).ToContainTextAsync("unknown-ca");
        await Assertions.Expect(details.Locator("tr:has(.grid-value:text-is(\"Self\"))").First).ToContainTextAsync("payment");
        await Assertions.Expect(details.Locator("tr:has(.grid-value:text-is(\"Side\"))").First).ToContainTextAsync("server");
        await Screenshots.SaveAsync(page, "structured-log-refusal-details");
    }
}
