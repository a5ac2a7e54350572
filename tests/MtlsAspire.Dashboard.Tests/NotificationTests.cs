using Microsoft.Playwright;

namespace MtlsAspire.Dashboard.Tests;

/// <summary>What a newcomer sees first after <c>dotnet run --project MtlsAspire.AppHost</c>: no error or warning on any page.</summary>
[Collection(DotnetRunGroup.Name)]
public sealed class NotificationTests(DotnetRunFixture fixture)
{
    [Fact]
    public async Task After_dotnet_run_no_page_of_the_dashboard_shows_an_error_or_a_warning()
    {
        var dashboard = new DashboardPage(await fixture.Browser.OpenDashboardAsync(fixture.LoginUrl, fixture.DashboardUrl));
        var page = dashboard.Page;

        // Each page is checked once it shows its data: by then the dashboard shows what the AppHost sent it at start.
        await Assertions.Expect(dashboard.ResourceState("payment")).ToHaveAttributeAsync("data-tooltip", "Running", new() { Timeout = 120_000 });
        await Screenshots.SaveAsync(page, "dotnet-run-resources");
        await ExpectNoErrorOrWarningAsync(dashboard, "resources");

        await page.GotoAsync("consolelogs/resource/pki");
        await Assertions.Expect(page.GetByText("PKI created in").First).ToBeVisibleAsync(new() { Timeout = 60_000 });
        await ExpectNoErrorOrWarningAsync(dashboard, "console logs");

        await page.GotoAsync("structuredlogs");
        await Assertions.Expect(dashboard.GridRows.First).ToBeVisibleAsync(new() { Timeout = 90_000 });
        await ExpectNoErrorOrWarningAsync(dashboard, "structured logs");

        await page.GotoAsync("traces");
        await Assertions.Expect(dashboard.GridRows.First).ToBeVisibleAsync(new() { Timeout = 90_000 });
        await ExpectNoErrorOrWarningAsync(dashboard, "traces");

        // Nor in the notification center, which keeps what the message bars showed.
        await dashboard.OpenNotificationCenterAsync();
        await ExpectNoErrorOrWarningAsync(dashboard, "notification center");
    }

    private static async Task ExpectNoErrorOrWarningAsync(DashboardPage dashboard, string where)
    {
        var shown = dashboard.ErrorsAndWarnings;
        var texts = await shown.AllInnerTextsAsync();
        Assert.True(texts.Count == 0, $"The {where} page shows: {string.Join(" | ", texts)}");
    }
}
