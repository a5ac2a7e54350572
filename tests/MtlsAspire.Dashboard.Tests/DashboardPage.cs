using Microsoft.Playwright;

namespace MtlsAspire.Dashboard.Tests;

/// <summary>Locators for the parts of the Aspire 13.6 dashboard the tests read (its markup, checked against a running dashboard).</summary>
internal sealed class DashboardPage(IPage page)
{
    public IPage Page => page;

    /// <summary>A row of the resources grid, by exact resource name.</summary>
    public ILocator ResourceRow(string name) => page.Locator($"tr.resource-row:has(.resource-name-text:text-is(\"{name}\"))");

    /// <summary>Opens a resource's details pane by clicking its name, and waits for the pane to show that resource.</summary>
    public async Task OpenDetailsAsync(string resource)
    {
        await ResourceRow(resource).Locator("td[col-index=\"1\"]").ClickAsync();
        await Assertions.Expect(page.Locator(".details-container h2.details-header-title")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex($": {System.Text.RegularExpressions.Regex.Escape(resource)}$"));
    }

    /// <summary>The value cell of a property in the open details pane, by its display name.</summary>
    public ILocator DetailsValue(string displayName) =>
        page.Locator($".details-container tr:has(td.nameColumn .grid-value:text-is(\"{displayName}\")) td.valueColumn .grid-value");

    /// <summary>Opens a resource's "..." actions menu (its commands).</summary>
    public Task OpenActionsMenuAsync(string resource) => ResourceRow(resource).Locator("[aria-label=\"Actions\"]").ClickAsync();

    /// <summary>An item of the open actions menu, by the command's exact display name.</summary>
    public ILocator MenuItem(string command) => page.GetByRole(AriaRole.Menuitem, new() { Name = command, Exact = true });

    /// <summary>Runs a command from a resource's "..." actions menu.</summary>
    public async Task RunCommandFromMenuAsync(string resource, string command)
    {
        await OpenActionsMenuAsync(resource);
        await MenuItem(command).ClickAsync();
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
