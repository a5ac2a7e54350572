using System.Net;
using MtlsAspire.Hosting;
using MtlsAspire.Hosting.Testing;

namespace MtlsAspire.EndToEnd.Tests;

[Collection(ShopGroup.Name)]
public class AuthorizationMatrixTests(ShopFixture shop)
{
    private MtlsTestingApplication App => shop.App;

    private static readonly string[] s_tcpTables = ["/proc/net/tcp", "/proc/net/tcp6"];

    /// <summary>One read endpoint of each mTLS service.</summary>
    private static readonly Dictionary<string, string> s_endpoints = new()
    {
        ["inventory"] = "/api/inventory/items/coffee",
        ["payment"] = "/api/payments/charges/none",
        ["order"] = "/api/orders/none",
        ["legacy-proxy"] = "/api/ledger/entries?orderId=none",
    };

    [Fact]
    public async Task Every_resource_may_call_every_endpoint_exactly_where_the_app_model_has_a_reference()
    {
        var identities = App.Application.Resources.Where(r => r.HasIdentity).Select(r => r.Name).Append("stranger").ToList();
        var mismatches = new List<string>();
        foreach (var (callee, path) in s_endpoints)
        {
            var model = App.Application.Resources.Single(r => r.Name == callee);
            foreach (var caller in identities)
            {
                using var client = App.CreateHttpClient(callee, asIdentity: caller);
                using var response = await client.GetAsync(path);
                var referenced = model.Callers.Any(c => c.Name == caller);
                var allowed = response.StatusCode != HttpStatusCode.Forbidden;
                if (allowed != referenced || response.StatusCode is HttpStatusCode.Unauthorized or >= HttpStatusCode.InternalServerError)
                {
                    mismatches.Add($"{caller} -> {callee}: {(int)response.StatusCode}, reference: {referenced}");
                }
            }
        }

        Assert.Empty(mismatches);
        Assert.Contains(App.Application.Resources.Single(r => r.Name == "legacy-proxy").Callers, c => c.Name == "payment");
    }

    [Fact]
    public void The_legacy_ledger_has_no_tcp_port()
    {
        var pid = App.Application.ProcessIds["legacy-ledger"];
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
        Assert.Equal(System.IO.UnixFileMode.UserRead | System.IO.UnixFileMode.UserWrite | System.IO.UnixFileMode.UserExecute,
            File.GetUnixFileMode(Path.GetDirectoryName(App.Application.Endpoints["legacy-ledger"].Socket)!));
    }

    [Fact]
    public void Endpoints_file_lists_every_resource()
    {
        var json = File.ReadAllText(Path.Combine(App.Application.StateDirectory, "endpoints.json"));

        foreach (var resource in App.Application.Resources)
        {
            Assert.Contains($"\"{resource.Name}\"", json, StringComparison.Ordinal);
        }

        Assert.All(App.Application.Resources.Where(r => r.Kind == ResourceKind.Service), r => Assert.NotNull(App.Application.Endpoints[r.Name].Https));
    }
}
