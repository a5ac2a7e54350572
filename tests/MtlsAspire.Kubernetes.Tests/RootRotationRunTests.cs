using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using MtlsAspire.Kubernetes.Tests.Infrastructure;

namespace MtlsAspire.Kubernetes.Tests;

/// <summary>
/// A root rotation in the cluster is the same three steps as locally, each a publish and an apply, each started once
/// every pod reports (on <c>/mtls/status</c>) that it loaded the previous one; orders go through at every step, and a
/// certificate that chains only to the old root is refused at the end.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "xunit calls DisposeAsync, which stops the cluster's processes.")]
public sealed class RootRotationRunTests(PublishedManifests published) : IClassFixture<PublishedManifests>, IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("k8s-rotate-").FullName;
    private LocalCluster _cluster = null!; // null only when InstallAsync failed (it then stopped what it started)

    public async Task InitializeAsync() => _cluster = await LocalCluster.InstallAsync(published.SelfSigned, Path.Combine(_root, "run"), LocalCluster.AppPods);

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task Add_the_new_root_sign_with_it_drop_the_old_one_and_orders_go_through_at_every_step()
    {
        var oldShopper = new Dictionary<string, string>(_cluster.CertManager.Secrets["shopper-tls"]);
        var oldRoot = await RootsOf("order");
        Assert.Single(oldRoot);
        await OrderAsync("shopper-tls");

        // 1. The new root joins every bundle.
        await StepAsync("step1", ["--MtlsAspire:Kubernetes:Roots", "1,2"]);
        await UntilEveryPod("trusts both roots", status => Roots(status).Count == 2);
        await OrderAsync("shopper-tls");

        // 2. It signs the intermediate (same key: rotationPolicy Never), and every leaf is renewed under it (cmctl renew).
        await StepAsync("step2", ["--MtlsAspire:Kubernetes:Roots", "1,2", "--MtlsAspire:Kubernetes:SigningRoot", "2"]);
        var renewed = LocalCluster.AppPods.ToDictionary(service => service, service => _cluster.CertManager.Renew(service).SerialNumber);
        _cluster.Propagate();
        await UntilEveryPod("serves its leaf under the new root", status => renewed.ContainsValue((string)status["leaf"]!["serial"]!));
        await OrderAsync("shopper-tls");

        // 3. The old root leaves every bundle.
        await StepAsync("step3", ["--MtlsAspire:Kubernetes:Roots", "2"]);
        await UntilEveryPod("trusts only the new root", status => Roots(status) is [var only] && !oldRoot.Contains(only));
        await OrderAsync("shopper-tls");

        // A certificate that chains only to the old root is now refused.
        _cluster.CertManager.Secrets["shopper-old-root"] = oldShopper;
        using var old = MtlsClient.For(_cluster, "shopper-old-root");
        await Assert.ThrowsAsync<HttpRequestException>(() => old.PostAsJsonAsync(OrderUrl, new { sku = "tea", quantity = 1, amount = 1m }));
    }

    private string OrderUrl => $"https://order.mtls-aspire.svc:{_cluster.PortOf("order", "https")}/api/orders";

    // A publish with the step's settings, applied; then the CA publisher runs and the kubelet propagates its ConfigMaps.
    private async Task StepAsync(string name, string[] settings)
    {
        _cluster.Apply(await Manifests.PublishAsync(Path.Combine(_root, name), settings));
        await _cluster.RunJobAsync("mtls-ca-publisher-initial");
        _cluster.Propagate();
    }

    private async Task OrderAsync(string secret)
    {
        using var client = MtlsClient.For(_cluster, secret);
        using var response = await client.PostAsJsonAsync(OrderUrl, new { sku = "tea", quantity = 1, amount = 1m });
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    private async Task UntilEveryPod(string what, Func<JsonNode, bool> condition)
    {
        foreach (var pod in LocalCluster.AppPods)
        {
            await Eventually.Until(async () => condition(await StatusAsync(pod)), $"{pod} {what}", TimeSpan.FromSeconds(30));
        }
    }

    private async Task<List<string>> RootsOf(string pod) => Roots(await StatusAsync(pod));

    private static List<string> Roots(JsonNode status) => [.. status["bundle"]!["roots"]!.AsArray().Select(r => (string)r!["serial"]!)];

    private async Task<JsonNode> StatusAsync(string pod)
    {
        using var http = new HttpClient();
        return JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{_cluster.HealthPort(pod)}/mtls/status"))!;
    }
}
