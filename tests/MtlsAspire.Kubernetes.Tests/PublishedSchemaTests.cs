using MtlsAspire.Kubernetes.Tests.Infrastructure;

namespace MtlsAspire.Kubernetes.Tests;

/// <summary>
/// The published manifests against the Kubernetes and cert-manager schemas, offline: the kustomization as
/// <c>kubectl kustomize</c> builds it, and the file applied once outside it. Unknown fields are errors.
/// </summary>
public sealed class PublishedSchemaTests(PublishedManifests published) : IClassFixture<PublishedManifests>
{
    [Fact]
    public async Task Every_object_the_kustomization_builds_and_the_revocation_list_validate()
    {
        var report = await KubernetesTools.ValidateKustomizationAsync(published.SelfSigned.Directory);
        foreach (var expected in new[] { "ok Certificate mtls-aspire/order", "ok Issuer mtls-aspire/mtls-ca", "ok CronJob mtls-aspire/mtls-ca-publisher",
                     "ok Deployment mtls-aspire/legacy-proxy",
                     "ok Role mtls-aspire/mtls-ca-publisher", "ok RoleBinding mtls-aspire/mtls-ca-publisher", "ok Role mtls-aspire/mtls-trust-admin", "ok RoleBinding mtls-aspire/mtls-trust-admin", "ok NetworkPolicy mtls-aspire/default-deny-ingress", "ok Namespace mtls-aspire" })
        {
            Assert.Contains(expected, report, StringComparison.Ordinal);
        }

        var built = published.SelfSigned.Objects.Count(o => o.File != "revocations.yaml");
        Assert.Equal(built, report.Split('\n').Count(line => line.StartsWith("ok ", StringComparison.Ordinal)));
        Assert.Contains("ok ConfigMap mtls-aspire/mtls-revocations", await KubernetesTools.ValidateSchemasAsync(Path.Combine(published.SelfSigned.Directory, "revocations.yaml")), StringComparison.Ordinal);
    }
}
