using Microsoft.Playwright;

namespace MtlsAspire.Dashboard.Tests;

/// <summary>
/// Debian's chromium driven by Playwright, started on first use and shared by the browser tests (each gets its own
/// context, signed in through the login URL). Playwright never downloads a browser here: it is told where chromium is.
/// </summary>
public sealed class DashboardBrowser : IAsyncDisposable
{
    public const string ChromiumPath = "/usr/bin/chromium";

    // Never disposed: it holds no handle until a waiter blocks, and disposing it would race a late caller.
    private readonly SemaphoreSlim _starting = new(1, 1);
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    /// <summary>A new signed-in page on the dashboard's resources page.</summary>
    public Task<IPage> OpenDashboardAsync(DashboardFixture fixture) => OpenDashboardAsync(fixture.LoginUrl, fixture.DashboardUrl);

    /// <summary>A new page signed in through <paramref name="loginUrl"/>, on the dashboard's resources page.</summary>
    public async Task<IPage> OpenDashboardAsync(Uri loginUrl, Uri dashboardUrl)
    {
        var browser = await BrowserAsync();
        var context = await browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = 1600, Height = 1000 },
            BaseURL = dashboardUrl.ToString(),
        });
        context.SetDefaultTimeout(30_000);
        // Expectations wait as long as actions: on a busy 2-core machine the dashboard's first live render (a resource's
        // title, its rows) can take longer than Playwright's 5 s default for an expectation.
        Assertions.SetDefaultExpectTimeout(30_000);
        var page = await context.NewPageAsync();
        await page.GotoAsync(loginUrl.ToString());
        // The login page validates the token and redirects to the resources page.
        await page.WaitForURLAsync(url => !url.Contains("/login", StringComparison.OrdinalIgnoreCase));
        // Aspire 17 may land on the view last used (structured logs, …) rather than on the resources.
        await page.GotoAsync("resources");
        return page;
    }

    private async Task<IBrowser> BrowserAsync()
    {
        await _starting.WaitAsync();
        try
        {
            if (_browser is not null)
            {
                return _browser;
            }

            if (!File.Exists(ChromiumPath))
            {
                throw new InvalidOperationException(
                    $"The dashboard browser tests drive Debian's chromium at {ChromiumPath}, which is missing: install it with " +
                    "'apt-get install -y --no-install-recommends chromium' (.ci/run does). Playwright is never allowed to download a browser.");
            }

            _playwright = await Playwright.CreateAsync();
            _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ChromiumPath,
                Headless = true,
                // CI runs as root, where chromium's sandbox cannot start.
                Args = ["--no-sandbox"],
            });
            return _browser;
        }
        finally
        {
            _starting.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _browser, null) is { } browser)
        {
            await browser.CloseAsync();
        }

        Interlocked.Exchange(ref _playwright, null)?.Dispose();
    }
}

/// <summary>Screenshots for the docs: written only when MTLS_SCREENSHOTS names a directory.</summary>
internal static class Screenshots
{
    public const string Variable = "MTLS_SCREENSHOTS";

    public static async Task SaveAsync(IPage page, string name, ILocator? clip = null)
    {
        if (Environment.GetEnvironmentVariable(Variable) is not { Length: > 0 } directory)
        {
            return;
        }

        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, name + ".png");
        if (clip is null)
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = path });
        }
        else
        {
            await clip.ScreenshotAsync(new LocatorScreenshotOptions { Path = path });
        }
    }
}
