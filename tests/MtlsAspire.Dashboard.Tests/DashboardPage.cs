using Microsoft.Playwright;

namespace MtlsAspire.Dashboard.Tests;

/// <summary>
/// Locators for the parts of the Aspire 17 dashboard the tests read (its markup, checked against a running 17.0.0
/// dashboard): the resources list (the same rows on the resources page and beside a resource's overview), a resource's
/// overview page (/resources/{name}) with its properties card, and the actions menu of a row.
/// </summary>
internal sealed class DashboardPage(IPage page)
{
    private ILocator Properties => page.Locator("section[aria-labelledby=\"overview-properties-title\"]");

    public IPage Page => page;

    /// <summary>A row of the resources list, by exact resource name (not the row of its telemetry source, which some pages add).</summary>
    public ILocator ResourceRow(string name) => page.Locator($".resource-row.resource-row-kind-resource:has(.resource-row-name:text-is(\"{name}\"))");

    /// <summary>The state a row shows (its state dot's tooltip: Running, Finished, …).</summary>
    public ILocator ResourceState(string name) => ResourceRow(name).Locator(".resource-row-meta-state");

    /// <summary>Opens a resource's overview page, and waits for its properties, every one of them shown.</summary>
    public async Task OpenDetailsAsync(string resource)
    {
        // By its address: a row's link opens the resource in the current view (its structured logs on that page, …).
        await page.GotoAsync($"resources/{resource}");
        await Assertions.Expect(page.Locator("h1.resource-title")).ToHaveTextAsync(resource);
        await Assertions.Expect(Properties.Locator("td.nameColumn").First).ToBeVisibleAsync();
        // The card shows the first ten properties; the others are behind "N more". Opening them also tells that the page
        // is live: its first render is static, and a click there is lost until the Blazor circuit connects (so click again,
        // at most three times); the commands of the page work only from then on.
        var more = Properties.Locator("button.overview-show-more");
        for (var attempt = 1; await more.CountAsync() > 0 && await more.GetAttributeAsync("aria-expanded") == "false"; attempt++)
        {
            await more.ClickAsync();
            try
            {
                await Assertions.Expect(more).ToHaveAttributeAsync("aria-expanded", "true", new() { Timeout = 10_000 });
            }
            catch (PlaywrightException) when (attempt < 3)
            {
            }
        }
    }

    /// <summary>The value cell of a property in the open overview, by its display name.</summary>
    public ILocator DetailsValue(string displayName) =>
        Properties.Locator($"tr:has(td.nameColumn .grid-value:text-is(\"{displayName}\")) td.valueColumn .grid-value");

    /// <summary>Opens a resource's "..." actions menu (its commands).</summary>
    public async Task OpenActionsMenuAsync(string resource)
    {
        // A row shows its actions while the pointer is over it.
        await ResourceRow(resource).HoverAsync();
        await ResourceRow(resource).Locator($"[aria-label=\"Actions for {resource}\"]").ClickAsync();
    }

    /// <summary>An item of the open actions menu, by the command's exact display name.</summary>
    public ILocator MenuItem(string command) => page.GetByRole(AriaRole.Menuitem, new() { Name = command, Exact = true });

    /// <summary>Runs a command from a resource's "..." actions menu, and waits for the dashboard to report that it succeeded.</summary>
    public async Task RunCommandFromMenuAsync(string resource, string command)
    {
        await OpenActionsMenuAsync(resource);
        var item = MenuItem(command);
        for (var attempt = 1; ; attempt++)
        {
            await item.ClickAsync();
            // A click that reaches the item closes the menu. One that lands while the resources list re-renders (its rows
            // update with every state change) is lost and leaves the menu open, its item still there: click it again.
            try
            {
                await Assertions.Expect(item).ToBeHiddenAsync(new() { Timeout = 10_000 });
                break;
            }
            catch (PlaywrightException) when (attempt < 3)
            {
            }
        }

        await Assertions.Expect(page.GetByText($"{resource} \"{command}\" succeeded")).ToBeVisibleAsync(new() { Timeout = 60_000 });
    }

    /// <summary>The data rows of the page's grid (structured logs, traces).</summary>
    public ILocator GridRows => page.Locator("[role=row]:has([role=gridcell])");

    /// <summary>
    /// The error and warning notices shown: the message bars above every page (the AppHost's notifications and the
    /// dashboard's own) and the entries of the notification center while it is open.
    /// </summary>
    public ILocator ErrorsAndWarnings => page.Locator(
        ".dashboard-message-bar.intent-error, .dashboard-message-bar.intent-warning, .notification-entry.intent-error, .notification-entry.intent-warning");

    /// <summary>Opens the notification center (the bell in the header) and waits for its panel.</summary>
    public async Task OpenNotificationCenterAsync()
    {
        await page.Locator("fluent-button[aria-label=\"Notifications\"]").ClickAsync();
        await Assertions.Expect(page.Locator(".notifications-container").First).ToBeVisibleAsync();
    }

    /// <summary>
    /// Types into a search box until the grid shows no row it should hide. A page's first render is static and
    /// replaced once the Blazor circuit connects, which loses what was typed before: so type again (at most three times).
    /// </summary>
    public static async Task SearchAsync(ILocator input, string text, ILocator rowsThatMustGo)
    {
        for (var attempt = 1; ; attempt++)
        {
            await input.FillAsync(text);
            try
            {
                await Assertions.Expect(rowsThatMustGo).ToHaveCountAsync(0, new() { Timeout = 10_000 });
                return;
            }
            catch (PlaywrightException) when (attempt < 3)
            {
            }
        }
    }
}
