using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using MtlsAspire.Kubernetes.Tests.Infrastructure;

namespace MtlsAspire.Kubernetes.Tests;

/// <summary>
/// The published manifests run: cert-manager's part is emulated from the Issuer and Certificate specs, the CA
/// publisher Job runs as CertBootstrap, and every Deployment runs as local processes with exactly the environment,
/// files and paths its pod spec declares. An order then crosses shopper → order → inventory, payment → legacy-proxy →
/// ledger, and callers the model does not allow are refused. A typo in a mount path, an env name, a SAN or a rule
/// fails it.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "xunit calls DisposeAsync, which stops the cluster's processes.")]
public sealed class ManifestsRunTests(PublishedManifests published) : IClassFixture<PublishedManifests>, IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("k8s-run-").FullName;
    private LocalCluster _cluster = null!; // null only when InstallAsync failed (it then stopped what it started)

    private Manifests Manifests => published.SelfSigned;

    // By its in-cluster name, so the server's certificate must carry it as a DNS SAN (the client connects to loopback).
    private string OrderUrl => $"https://order.mtls-aspire.svc:{_cluster.PortOf("order", "https")}/api/orders";

    public async Task InitializeAsync() => _cluster = await LocalCluster.InstallAsync(Manifests, _root, LocalCluster.AppPods);

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task An_order_crosses_every_pod_and_the_ledger_records_payment_as_the_caller()
    {
        using var shopper = Client("shopper-tls");
        using var response = await shopper.PostAsJsonAsync(OrderUrl, new { sku = "coffee", quantity = 1, amount = 12.5m });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"order answered {(int)response.StatusCode}: {body}\n{Logs()}");
        var orderId = (string)JsonNode.Parse(body)!["id"]!;

        // The ledger has no TCP port: ask it over its socket in the pod's emptyDir, as only a container of that pod could.
        using var ledger = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(Path.Combine(_cluster.VolumeDirectory("legacy-proxy", "run-legacy-ledger"), "app.sock")), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            },
        });
        var entries = JsonNode.Parse(await ledger.GetStringAsync($"http://legacy-ledger/api/ledger/entries?orderId={orderId}"))!.AsArray();
        var entry = Assert.Single(entries);
        Assert.Equal("spiffe://mtls-aspire.local/ns/mtls-aspire/sa/payment", (string?)entry!["caller"]);

        // And the shopper pod's own traffic got through (its log line says which status order answered).
        await Eventually.Until(() => _cluster.OutputOf("shopper", "shopper").Contains("order answered 201", StringComparison.Ordinal), "the shopper pod placed an order");
    }

    [Fact]
    public async Task A_caller_the_model_does_not_allow_is_refused_with_403_naming_caller_and_endpoint_and_only_the_log_names_the_allowed_caller()
    {
        // inventory has a valid cluster identity, but no reference to order.
        using var inventory = Client("inventory-tls");
        using var response = await inventory.PostAsJsonAsync(OrderUrl, new { sku = "coffee", quantity = 1, amount = 1m });
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("spiffe://mtls-aspire.local/ns/mtls-aspire/sa/inventory may not call order POST /api/orders", body, StringComparison.Ordinal);
        // The pods run in Production: the body does not map the authorization graph for any identity that asks; order's log does.
        Assert.DoesNotContain("sa/shopper", body, StringComparison.Ordinal);
        await Eventually.Until(() => _cluster.OutputOf("order", "order").Split('\n').Any(line =>
            line.Contains("authorization denied spiffe://mtls-aspire.local/ns/mtls-aspire/sa/inventory", StringComparison.Ordinal)
            && line.Contains("allowed are ", StringComparison.Ordinal) && line.Contains("spiffe://mtls-aspire.local/ns/mtls-aspire/sa/shopper", StringComparison.Ordinal)),
            "order logs the denial with the callers it allows");
    }

    [Fact]
    public void The_root_cert_manager_issues_from_the_manifests_is_bound_to_our_trust_domain()
    {
        // What the services' TrustDomainBinding reads: a bundle that also held a partner's root could not vouch for our IDs through it.
        using var root = X509Certificate2.CreateFromPem(_cluster.CertManager.Secrets["mtls-root-ca"]["tls.crt"]);
        Assert.Equal(["mtls-aspire.local"], MtlsAspire.Verification.Identity.TrustDomainBinding.MarkedTrustDomains(root));
    }

    [Fact]
    public async Task The_local_identity_of_the_same_service_is_not_the_cluster_identity()
    {
        // Same trust domain, same CA, shopper — but environment "development", not the namespace: the rules name the cluster one.
        var shopper = Manifests.Get("Certificate", "shopper");
        var local = shopper.Json.DeepClone().AsObject();
        local["spec"]!["uris"] = new JsonArray("spiffe://mtls-aspire.local/ns/development/sa/shopper");
        local["spec"]!["secretName"] = "shopper-development-tls";
        _cluster.CertManager.Issue(new ManifestObject("test", local));
        using var client = Client("shopper-development-tls");
        using var response = await client.PostAsJsonAsync(OrderUrl, new { sku = "coffee", quantity = 1, amount = 1m });
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task A_serial_added_to_the_revocation_list_is_refused_once_the_publisher_ran_and_the_kubelet_propagated_it()
    {
        var order = OrderUrl;
        using (var before = Client("shopper-tls"))
        {
            using var accepted = await before.PostAsJsonAsync(order, new { sku = "tea", quantity = 1, amount = 3m });
            Assert.Equal(HttpStatusCode.Created, accepted.StatusCode);
        }

        using var leaf = X509Certificate2.CreateFromPem(_cluster.CertManager.Secrets["shopper-tls"]["tls.crt"]);
        await _cluster.RevokeAsync(leaf.SerialNumber);

        await Eventually.Until(async () =>
        {
            using var after = Client("shopper-tls");
            return await MtlsClient.IsRefusedAsync(after, order);
        }, "order refuses the revoked shopper certificate in the handshake", TimeSpan.FromSeconds(30));
        await Eventually.Until(() => _cluster.OutputOf("order", "order").Contains("revoked", StringComparison.Ordinal), "order logs why it refused");
    }

    [Fact]
    public async Task A_ledger_container_killed_with_its_socket_left_behind_comes_back_when_restarted()
    {
        var socket = Path.Combine(_cluster.VolumeDirectory("legacy-proxy", "run-legacy-ledger"), "app.sock");
        await _cluster.KillAsync("legacy-proxy", "legacy-ledger"); // SIGKILL: nothing removes the socket file
        Assert.True(File.Exists(socket));

        _cluster.Restart("legacy-proxy", "legacy-ledger"); // what the kubelet does, in the same pod (same emptyDir)

        using var shopper = Client("shopper-tls");
        await Eventually.Until(async () =>
        {
            using var response = await shopper.PostAsJsonAsync(OrderUrl, new { sku = "coffee", quantity = 1, amount = 1m });
            return response.StatusCode == HttpStatusCode.Created;
        }, "an order reaches the restarted ledger", TimeSpan.FromSeconds(30));
    }

    private HttpClient Client(string secret) => MtlsClient.For(_cluster, secret);

    private string Logs() => string.Join("\n", LocalCluster.AppPods.Select(p => $"--- {p}\n{_cluster.OutputOf(p, p)}"));
}
