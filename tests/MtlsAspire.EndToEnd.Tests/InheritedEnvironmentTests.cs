using System.Net;
using MtlsAspire.EndToEnd.Tests.Infrastructure;
using MtlsAspire.Hosting;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>
/// What the AppHost's environment holds reaches every process DCP starts: an Mtls setting there must not become a rule.
/// The test sets variables of this process's environment, so it runs alone.
/// </summary>
[Collection(ProcessEnvironmentGroup.Name)]
public class InheritedEnvironmentTests
{
    private const string Intruder = "spiffe://mtls-aspire.local/ns/development/sa/intruder";

    [Theory]
    [InlineData("Mtls__Authorization__ReferencedBy__7", true)]
    [InlineData("MTLS__AUTHORIZATION__REFERENCEDBY__7", true)]
    [InlineData("mtls:authorization:referencedby:7", true)]
    [InlineData("ASPNETCORE_Mtls__Authorization__ReferencedBy__7", true)]
    [InlineData("dotnet_mtls__TrustDomain", true)]
    [InlineData("Mtls", true)]
    [InlineData("MtlsAspire__StateDirectory", false)]
    [InlineData("Mtlsx__Authorization", false)]
    [InlineData("ASPNETCORE_URLS", false)]
    [InlineData("OTHER_Mtls__Authorization__ReferencedBy__7", false)]
    public void A_variable_is_an_mtls_setting_exactly_when_a_services_configuration_reads_it_as_one(string name, bool setting) =>
        Assert.Equal(setting, InheritedMtlsSettings.IsMtlsSetting(name));

    [Fact]
    public async Task A_stray_allow_rule_in_the_apphosts_environment_is_dropped_with_a_warning_naming_it_and_the_intruder_stays_refused()
    {
        string[] stray = ["Mtls__Authorization__ReferencedBy__7", "ASPNETCORE_mtls__authorization__referencedBy__8"];
        foreach (var name in stray)
        {
            Environment.SetEnvironmentVariable(name, Intruder);
        }

        TestApp? app = null;
        try
        {
            app = await TestApp.StartAsync(args: ["--no-workers"]);

            using var client = app.CreateHttpClient("inventory", asIdentity: "intruder");
            using var response = await client.GetAsync("/api/inventory/items/coffee");
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.All(stray, name => Assert.Null(Environment.GetEnvironmentVariable(name)));

            foreach (var name in stray)
            {
                var warning = await app.WaitForLogAsync("pki", l => l.Contains($"Dropped {name} from the AppHost's environment", StringComparison.Ordinal));
                Assert.DoesNotContain(Intruder, warning, StringComparison.Ordinal);
            }

            var environ = await File.ReadAllTextAsync($"/proc/{app.ProcessId("inventory")}/environ");
            Assert.DoesNotContain(Intruder, environ, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var name in stray)
            {
                Environment.SetEnvironmentVariable(name, null);
            }

            if (app is not null)
            {
                await app.DisposeAsync();
            }
        }
    }
}
