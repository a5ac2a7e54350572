using System.Net;
using System.Net.Http.Json;
using MtlsAspire.Kubernetes.Tests.Infrastructure;

namespace MtlsAspire.Kubernetes.Tests;

/// <summary>
/// Per-pod keys (<c>--MtlsAspire:Kubernetes:Credentials csi</c>): no Certificate or Secret per service; each pod's CSI
/// volume gets its own key and a certificate for its ServiceAccount's SPIFFE ID, and the services read the bundle and
/// CRL from the ConfigMaps beside it (<c>Mtls:TrustBundleFile</c>, <c>Mtls:CrlFile</c>).
/// </summary>
public sealed class CsiModeTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("k8s-csi-").FullName;
    private Manifests _manifests = null!;

    public async Task InitializeAsync() => _manifests = await Manifests.PublishAsync(Path.Combine(_root, "k8s"), "--MtlsAspire:Kubernetes:Credentials", "csi");

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task No_service_Certificate_exists_each_pod_asks_the_CSI_driver_for_its_ServiceAccounts_identity_and_the_objects_validate()
    {
        Assert.Equal(["mtls-intermediate-ca", "mtls-root-ca"], _manifests.OfKind("Certificate").Select(c => c.Name).Order());
        foreach (var deployment in _manifests.OfKind("Deployment").Where(d => d.Name != "aspire-dashboard"))
        {
            var pod = deployment.Spec["template"]!["spec"]!;
            var csi = pod["volumes"]!.AsArray().Single(v => v!["csi"] is not null)!["csi"]!;
            Assert.Equal("spiffe://mtls-aspire.local/ns/${POD_NAMESPACE}/sa/${SERVICE_ACCOUNT_NAME}", (string?)csi["volumeAttributes"]!["csi.cert-manager.io/uri-sans"]);
            Assert.Equal(deployment.Name, (string?)pod["serviceAccountName"]); // so the identity is the service's
            // The driver writes root-owned 0440 files: only the pod's fsGroup lets the app user (not root) read its key.
            Assert.Equal((string?)pod["securityContext"]!["fsGroup"], (string?)csi["volumeAttributes"]!["csi.cert-manager.io/fs-group"]);
        }

        await KubernetesTools.ValidateKustomizationAsync(_manifests.Directory);
    }

    [Fact]
    public async Task The_pods_run_with_a_key_each_an_order_goes_through_another_services_pod_is_refused_and_so_is_a_revoked_pods_certificate()
    {
        await using var cluster = await LocalCluster.InstallAsync(_manifests, Path.Combine(_root, "run"), LocalCluster.AppPods);

        var order = $"https://order.mtls-aspire.svc:{cluster.PortOf("order", "https")}/api/orders";
        using (var shopper = MtlsClient.For(cluster, VolumeFiles(cluster, "shopper")))
        {
            using var placed = await shopper.PostAsJsonAsync(order, new { sku = "coffee", quantity = 1, amount = 2m });
            Assert.True(placed.StatusCode == HttpStatusCode.Created, $"{(int)placed.StatusCode}: {await placed.Content.ReadAsStringAsync()}\n{cluster.OutputOf("order", "order")}");
        }

        using (var inventory = MtlsClient.For(cluster, VolumeFiles(cluster, "inventory")))
        {
            using var refused = await inventory.PostAsJsonAsync(order, new { sku = "coffee", quantity = 1, amount = 2m });
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }

        // Revoking one pod's certificate: its serial (from its /mtls/status) into mtls-revocations, the publisher, the kubelet.
        using var status = new HttpClient();
        var serial = (string)System.Text.Json.Nodes.JsonNode.Parse(await status.GetStringAsync($"http://127.0.0.1:{cluster.HealthPort("shopper")}/mtls/status"))!["leaf"]!["serial"]!;
        await cluster.RevokeAsync(serial);
        await Eventually.Until(async () =>
        {
            using var revoked = MtlsClient.For(cluster, VolumeFiles(cluster, "shopper"));
            return await MtlsClient.IsRefusedAsync(revoked, order);
        }, "order refuses the revoked pod's certificate, the CRL read from its own ConfigMap volume", TimeSpan.FromSeconds(30));
    }

    private static Dictionary<string, string> VolumeFiles(LocalCluster cluster, string pod) =>
        new[] { "tls.crt", "tls.key" }.ToDictionary(f => f, f => File.ReadAllText(Path.Combine(cluster.VolumeDirectory(pod, "mtls"), f)));
}
