using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MtlsAspire.EndToEnd.Tests.Infrastructure;
using MtlsAspire.Hosting;

namespace MtlsAspire.EndToEnd.Tests;

[Collection(ShopGroup.Name)]
public class AuthorizationMatrixTests(ShopFixture shop)
{
    private TestApp App => shop.App;

    private static readonly string[] s_tcpTables = ["/proc/net/tcp", "/proc/net/tcp6"];

    /// <summary>One read endpoint of each mTLS service.</summary>
    private static readonly Dictionary<string, string> s_endpoints = new()
    {
        ["inventory"] = "/api/inventory/items/coffee",
        ["payment"] = "/api/payments/charges/none",
        ["order"] = "/api/orders/none",
        ["legacy-proxy"] = "/api/ledger/entries?orderId=none",
    };

    /// <summary>The references of Program.cs, written out: who may call whom.</summary>
    private static readonly Dictionary<string, string[]> s_references = new()
    {
        ["inventory"] = ["order"],
        ["payment"] = ["order"],
        ["order"] = ["shopper"],
        ["legacy-proxy"] = ["payment"],
    };

    private IEnumerable<IResource> Identities =>
        App.App.Services.GetRequiredService<DistributedApplicationModel>().Resources.Where(r => r.Annotations.OfType<MtlsIdentityAnnotation>().Any());

    [Fact]
    public async Task Every_identity_may_call_every_endpoint_exactly_where_the_app_model_has_a_reference()
    {
        var identities = Identities.Select(r => r.Name).Append("stranger").ToList();
        var mismatches = new List<string>();
        foreach (var (callee, path) in s_endpoints)
        {
            var callers = s_references[callee];
            Assert.Equal(callers, App.App.Services.ReferencesTo(callee)); // the model says the same
            foreach (var caller in identities)
            {
                using var client = App.CreateHttpClient(callee, asIdentity: caller);
                using var response = await client.GetAsync(path);
                var referenced = callers.Contains(caller);
                var allowed = response.StatusCode != HttpStatusCode.Forbidden;
                if (allowed != referenced || response.StatusCode is HttpStatusCode.Unauthorized or >= HttpStatusCode.InternalServerError)
                {
                    mismatches.Add($"{caller} -> {callee}: {(int)response.StatusCode}, reference: {referenced}");
                }
            }
        }

        Assert.Empty(mismatches);
    }

    [Fact]
    public async Task A_local_run_gives_each_service_the_apphosts_environment_so_a_403_in_development_lists_the_allowed_callers()
    {
        var environment = App.App.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHostEnvironment>().EnvironmentName;
        var environ = File.ReadAllText($"/proc/{App.ProcessId("order")}/environ").Split('\0');
        Assert.Contains($"DOTNET_ENVIRONMENT={environment}", environ);
        Assert.Contains($"ASPNETCORE_ENVIRONMENT={environment}", environ);

        using var client = App.CreateHttpClient("order", asIdentity: "inventory");
        using var response = await client.GetAsync("/api/orders/none");
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains($"{App.IdentityOf("inventory")} may not call order GET /api/orders/", body, StringComparison.Ordinal);
        // The launch profile (and Aspire's testing builder) run the AppHost in Development, as a newcomer's dotnet run does.
        Assert.Equal("Development", environment);
        Assert.Contains($"allowed callers: {App.IdentityOf("shopper")}", body, StringComparison.Ordinal);
    }

    [Fact]
    public void The_allow_rules_each_service_gets_are_the_full_spiffe_ids_of_its_referencing_resources()
    {
        var environ = File.ReadAllText($"/proc/{App.ProcessId("order")}/environ").Split('\0');

        Assert.Contains($"Mtls__Authorization__ReferencedBy__0={App.IdentityOf("shopper")}", environ);
        Assert.DoesNotContain(environ, v => v.StartsWith("Mtls__Authorization__ReferencedBy__1=", StringComparison.Ordinal));
        Assert.Contains($"services__inventory__https__0={App.App.GetEndpoint("inventory", "https").ToString().TrimEnd('/')}", environ);
    }

    [Fact]
    public void The_legacy_ledger_has_no_tcp_port_and_its_socket_directory_is_private()
    {
        var pid = App.ProcessId("legacy-ledger");
        var socketInodes = Directory.GetFiles($"/proc/{pid}/fd")
            .Select(fd => new FileInfo(fd).LinkTarget ?? string.Empty)
            .Where(target => target.StartsWith("socket:[", StringComparison.Ordinal))
            .Select(target => target["socket:[".Length..^1])
            .ToHashSet();
        var listening = s_tcpTables
            .SelectMany(File.ReadLines)
            .Skip(1)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields.Length > 9 && socketInodes.Contains(fields[9]))
            .ToList();

        Assert.NotEmpty(socketInodes); // it does listen: on its Unix socket
        Assert.Empty(listening);
        var socket = App.App.Services.GetModelResource("legacy-ledger").GetUnixSocketPath();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(socket)!));
    }

    [Fact]
    public void The_endpoints_file_lists_every_resource_with_its_endpoint_credentials_and_identity()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(App.StateDirectory, "endpoints.json")));

        foreach (var service in s_endpoints.Keys)
        {
            var entry = json.RootElement.GetProperty(service);
            Assert.Equal(App.App.GetEndpoint(service, "https"), new Uri(entry.GetProperty("https").GetString()!));
            Assert.Equal(App.IdentityOf(service).ToString(), entry.GetProperty("spiffeId").GetString());
            Assert.True(File.Exists(Path.Combine(entry.GetProperty("credentials").GetString()!, "tls.key")));
            Assert.StartsWith("http://localhost:", entry.GetProperty("health").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal(App.App.Services.GetModelResource("legacy-ledger").GetUnixSocketPath(), json.RootElement.GetProperty("legacy-ledger").GetProperty("socket").GetString());
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("shopper").GetProperty("https").ValueKind);
    }
}
