using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;
using MtlsAspire.Hosting;
using MtlsAspire.Hosting.Kubernetes;
using MtlsAspire.Kubernetes.Tests.Infrastructure;
using TempDirectory = MtlsAspire.Kubernetes.Tests.Infrastructure.TempDirectory;

namespace MtlsAspire.Kubernetes.Tests;

/// <summary>The publish step on models other than the AppHost's: what changes with the model, and what it refuses.</summary>
public sealed class ModelVariantsTests : IDisposable
{
    private readonly string _state = TempDirectory.Create();

    public void Dispose() => TempDirectory.Delete(_state);

    [Fact]
    public async Task Replicas_come_from_the_model()
    {
        var (builder, pki) = Builder();
        builder.AddDotnetProject("inventory", Project("Inventory")).WithHttpsEndpoint().WithMtlsIdentity(pki).WithReplicas(3);

        var manifests = await PublishAsync(builder, pki);

        Assert.Equal("3", (string?)manifests.Get("Deployment", "inventory").Spec["replicas"]);
    }

    [Fact]
    public async Task Without_the_dashboard_there_is_no_collector_and_no_OTLP_endpoint_unless_one_is_named()
    {
        var (builder, pki) = Builder(("MtlsAspire:Kubernetes:Dashboard", "false"));
        builder.AddDotnetProject("inventory", Project("Inventory")).WithHttpsEndpoint().WithMtlsIdentity(pki);
        var without = await PublishAsync(builder, pki);
        Assert.DoesNotContain("dashboard.yaml", without.Files.Keys);
        Assert.DoesNotContain("OTEL_EXPORTER_OTLP_ENDPOINT", without.Files["inventory.yaml"], StringComparison.Ordinal);

        var (other, otherPki) = Builder(("MtlsAspire:Kubernetes:Dashboard", "false"), ("MtlsAspire:Kubernetes:OtlpEndpoint", "http://collector.observability:4317"));
        other.AddDotnetProject("inventory", Project("Inventory")).WithHttpsEndpoint().WithMtlsIdentity(otherPki);
        Assert.Contains("value: \"http://collector.observability:4317\"", (await PublishAsync(other, otherPki)).Files["inventory.yaml"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_trust_settings_reach_the_publisher_and_the_trust_admins_binding()
    {
        var (builder, pki) = Builder(("MtlsAspire:Kubernetes:AllowExtraRootsForTrustDomain", "true"), ("MtlsAspire:Kubernetes:TrustAdminGroup", "oncall"));
        builder.AddDotnetProject("inventory", Project("Inventory")).WithHttpsEndpoint().WithMtlsIdentity(pki);

        var manifests = await PublishAsync(builder, pki);

        var sign = manifests.Get("CronJob", "mtls-ca-publisher").Spec["jobTemplate"]!["spec"]!["template"]!["spec"]!["initContainers"]![0]!;
        Assert.Contains("--allow-extra-roots-for-trust-domain", sign["args"]!.AsArray().Select(a => (string)a!));
        Assert.Equal("oncall", (string?)manifests.Get("RoleBinding", "mtls-trust-admin").Json["subjects"]![0]!["name"]);
    }

    [Fact]
    public async Task A_socket_only_resource_called_by_two_cannot_share_a_pod_and_the_publish_says_so()
    {
        var (builder, pki) = Builder();
        var ledger = builder.AddDotnetProject("legacy-ledger", Project("LegacyLedger")).ListenOnUnixSocket();
        builder.AddDotnetProject("legacy-proxy", Project("LegacyProxy")).WithHttpsEndpoint().WithMtlsIdentity(pki).WithReference(ledger);
        builder.AddDotnetProject("payment", Project("Payment")).WithHttpsEndpoint().WithMtlsIdentity(pki).WithReference(ledger);

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => PublishAsync(builder, pki));

        Assert.Contains("'legacy-ledger' listens only on a Unix socket", refused.Message, StringComparison.Ordinal);
        Assert.Contains("legacy-proxy, payment", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_resource_without_identity_or_pod_is_refused_rather_than_silently_left_out()
    {
        var (builder, pki) = Builder();
        builder.AddDotnetProject("inventory", Project("Inventory")).WithHttpsEndpoint().WithMtlsIdentity(pki);
        builder.AddDotnetProject("reporting", Project("Shopper"));

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => PublishAsync(builder, pki));

        Assert.Contains("'reporting' has no mTLS identity", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Roots", "1,x", "must list root generations")]
    [InlineData("SigningRoot", "3", "must be one of the trusted roots (1)")]
    [InlineData("Ca", "vault", "must be 'self-signed'")]
    [InlineData("Credentials", "spire", "must be 'secret'")]
    [InlineData("Namespace", "Shop_1", "is not a Kubernetes namespace name")]
    public void A_bad_setting_is_refused_naming_it(string key, string value, string expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([KeyValuePair.Create($"MtlsAspire:Kubernetes:{key}", (string?)value)]).Build();

        var refused = Assert.Throws<ArgumentException>(() => KubernetesOptions.From(configuration));

        Assert.Contains($"MtlsAspire:Kubernetes:{key}", refused.Message, StringComparison.Ordinal);
        Assert.Contains(expected, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_root_rotation_step_trusts_both_roots_and_signs_with_the_new_one()
    {
        var (builder, pki) = Builder(("MtlsAspire:Kubernetes:Roots", "1,2"), ("MtlsAspire:Kubernetes:SigningRoot", "2"));
        builder.AddDotnetProject("inventory", Project("Inventory")).WithHttpsEndpoint().WithMtlsIdentity(pki);

        var manifests = await PublishAsync(builder, pki);

        Assert.Equal(["mtls-ca", "mtls-root-ca", "mtls-root-ca-2", "mtls-selfsigned"], manifests.OfKind("Issuer").Select(i => i.Name).Order());
        Assert.Equal("mtls-root-ca-2", (string?)manifests.Get("Certificate", "mtls-intermediate-ca").Spec["issuerRef"]!["name"]);
        var args = manifests.Get("CronJob", "mtls-ca-publisher").Spec["jobTemplate"]!["spec"]!["template"]!["spec"]!["initContainers"]![0]!["args"]!.AsArray().Select(a => (string)a!).ToList();
        Assert.Equal(2, args.Count(a => a == "--root"));
        Assert.Contains("/var/run/mtls-ca/root-2", args);
    }

    private (IDistributedApplicationBuilder Builder, IResourceBuilder<PkiResource> Pki) Builder(params (string Key, string Value)[] settings)
    {
        var builder = DistributedApplication.CreateBuilder(new DistributedApplicationOptions
        {
            Args = ["--operation", "publish", "--step", KubernetesPublishingExtensions.StepName, "--MtlsAspire:StateDirectory", _state],
            DisableDashboard = true,
        });
        builder.Configuration.AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value)));
        return (builder, builder.AddMtlsPki("pki"));
    }

    private static async Task<Manifests> PublishAsync(IDistributedApplicationBuilder builder, IResourceBuilder<PkiResource> pki)
    {
        var (files, _) = await KubernetesPublishingExtensions.BuildAsync(new DistributedApplicationModel(builder.Resources), pki.Resource,
            KubernetesOptions.From(builder.Configuration), builder.ExecutionContext, Repository.Root, "deploy/k8s", CancellationToken.None);
        var directory = TempDirectory.Create();
        try
        {
            foreach (var file in files)
            {
                await File.WriteAllTextAsync(Path.Combine(directory, file.Name), file.Text);
            }

            return Manifests.Read(directory);
        }
        finally
        {
            TempDirectory.Delete(directory);
        }
    }

    // Added with AddDotnetProject, Aspire 17's replacement for AddProject (which the AppHost keeps for its launch): the
    // publish step reads any resource with an identity, whatever its type; and in publish mode nothing is built.
    private static string Project(string name) => Path.Combine(Repository.Root, "services", name, $"{name}.csproj");
}
