using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Playwright;

namespace MtlsAspire.Dashboard.Tests;

/// <summary>The resources page in a real browser: the app's resources, their identities, and the commands.</summary>
[Collection(DashboardGroup.Name)]
public sealed class ResourcesPageTests(DashboardFixture fixture)
{
    [Fact]
    public async Task Lists_every_resource_and_shows_each_identitys_spiffe_id_and_certificate_expiry()
    {
        var dashboard = new DashboardPage(await fixture.Browser.OpenDashboardAsync(fixture));
        foreach (var resource in DashboardFixture.Resources)
        {
            await Assertions.Expect(dashboard.ResourceRow(resource)).ToBeVisibleAsync();
            await Assertions.Expect(dashboard.ResourceState(resource)).ToHaveAttributeAsync("data-tooltip", "Running");
        }

        await Screenshots.SaveAsync(dashboard.Page, "resources");

        foreach (var identity in DashboardFixture.Identities)
        {
            await dashboard.OpenDetailsAsync(identity);
            await Assertions.Expect(dashboard.DetailsValue(PropertyNames.Display.SpiffeId)).ToHaveTextAsync($"spiffe://mtls-aspire.local/ns/development/sa/{identity}");

            // The expiry shown is the one of the certificate the service holds on disk.
            using var leaf = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(fixture.StateDirectory, "pki", "services", identity, "tls.crt")));
            var expires = DateTimeOffset.ParseExact(await dashboard.DetailsValue(PropertyNames.Display.NotAfter).InnerTextAsync(), "u", CultureInfo.InvariantCulture);
            Assert.Equal(new DateTimeOffset(leaf.NotAfter.ToUniversalTime()), expires);
            Assert.True(expires > DateTimeOffset.UtcNow, $"{identity}'s certificate shown as expired: {expires:u}");
        }
    }

    [Fact]
    public async Task Renew_certificate_from_the_actions_menu_changes_the_serial_shown_for_payment()
    {
        var dashboard = new DashboardPage(await fixture.Browser.OpenDashboardAsync(fixture));
        await dashboard.OpenDetailsAsync("payment");
        var serial = dashboard.DetailsValue(PropertyNames.Display.Serial);
        await Assertions.Expect(serial).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^[0-9A-F]{16,40}$"));
        var before = await serial.InnerTextAsync();
        Assert.Equal(fixture.Property("payment", PropertyNames.Serial), before);
        var generationBefore = int.Parse(await dashboard.DetailsValue(PropertyNames.Display.Generation).InnerTextAsync(), CultureInfo.InvariantCulture);
        await Screenshots.SaveAsync(dashboard.Page, "payment-details");

        await dashboard.RunCommandFromMenuAsync("payment", "Renew certificate");

        await Assertions.Expect(serial).Not.ToHaveTextAsync(before, new() { Timeout = 30_000 });
        var after = await serial.InnerTextAsync();
        await Assertions.Expect(dashboard.DetailsValue(PropertyNames.Display.Generation)).ToHaveTextAsync((generationBefore + 1).ToString(CultureInfo.InvariantCulture));
        await Screenshots.SaveAsync(dashboard.Page, "payment-renewed");

        // The page, the app model and the file payment loads agree on the new serial.
        Assert.Equal(fixture.Property("payment", PropertyNames.Serial), after);
        using var leaf = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(fixture.StateDirectory, "pki", "services", "payment", "tls.crt")));
        Assert.Equal(after, leaf.SerialNumber);

        // And payment itself took it without a restart (its own log, through the dashboard).
        using var api = await TelemetryApi.ConnectAsync(fixture.DashboardUrl, fixture.BrowserToken);
        await Eventually.UntilAsync(ct => api.LogsAsync("payment", cancellationToken: ct),
            logs => logs.Any(l => l["OldSerial"] == before && l["NewSerial"] == after), TimeSpan.FromSeconds(60),
            logs => $"payment did not log the rotation {before} -> {after}");
    }

    [Fact]
    public async Task The_pki_resource_shows_its_properties_and_its_timeline_as_console_log()
    {
        var dashboard = new DashboardPage(await fixture.Browser.OpenDashboardAsync(fixture));
        await dashboard.OpenDetailsAsync("pki");
        await Assertions.Expect(dashboard.DetailsValue(PropertyNames.Display.TrustDomain)).ToHaveTextAsync("mtls-aspire.local");
        await Assertions.Expect(dashboard.DetailsValue(PropertyNames.Display.IntermediateSerial)).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^[0-9A-F]{16,40}$"));
        await Assertions.Expect(dashboard.DetailsValue(PropertyNames.Display.CrlNumber)).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^[0-9]+$"));
        await Screenshots.SaveAsync(dashboard.Page, "pki");

        await dashboard.Page.GotoAsync("consolelogs/resource/pki");
        await Assertions.Expect(dashboard.Page.GetByText("PKI created in").First).ToBeVisibleAsync();
        var paymentSpiffeId = fixture.Property("payment", PropertyNames.SpiffeId)!;
        await Assertions.Expect(dashboard.Page.GetByText($"for payment: {paymentSpiffeId}").First).ToBeVisibleAsync();
        await Screenshots.SaveAsync(dashboard.Page, "pki-console-log");
    }

    [Fact]
    public async Task The_pki_offers_root_rotation_and_the_fire_drill_and_a_service_shows_what_it_has_loaded()
    {
        var dashboard = new DashboardPage(await fixture.Browser.OpenDashboardAsync(fixture));
        await dashboard.OpenDetailsAsync("pki");
        await Assertions.Expect(dashboard.DetailsValue(PropertyNames.Display.Operation)).ToHaveTextAsync("none");
        await Assertions.Expect(dashboard.DetailsValue(PropertyNames.Display.RootRotation)).ToHaveTextAsync("no root rotation under way");

        await dashboard.OpenActionsMenuAsync("pki");
        foreach (var command in new[] { "Rotate intermediate", "Rotate root", "Abandon root rotation", "Run fire drill", "Publish CRLs" })
        {
            await Assertions.Expect(dashboard.MenuItem(command)).ToBeVisibleAsync();
        }

        await dashboard.Page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(dashboard.MenuItem("Rotate root")).ToBeHiddenAsync();

        // What order reports on /mtls/status, as the AppHost shows it: the leaf it serves is the one issued to it, under the one root.
        await dashboard.OpenDetailsAsync("order");
        await Assertions.Expect(dashboard.DetailsValue(PropertyNames.Display.LoadedGeneration)).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^[1-9][0-9]*$"));
        var issued = await dashboard.DetailsValue(PropertyNames.Display.Serial).InnerTextAsync();
        await Assertions.Expect(dashboard.DetailsValue(PropertyNames.Display.ServingSerial)).ToHaveTextAsync(issued);
        await Assertions.Expect(dashboard.DetailsValue(PropertyNames.Display.TrustedRoots)).ToHaveTextAsync(fixture.Property("pki", PropertyNames.RootSerial)![..8]);
        await Assertions.Expect(dashboard.DetailsValue(PropertyNames.Display.ExpiryState)).ToHaveTextAsync("Ok");
    }
}
