using System.Text.RegularExpressions;
using MtlsAspire.Kubernetes.Tests.Infrastructure;

namespace MtlsAspire.Kubernetes.Tests;

/// <summary>The validation harness itself: what it lets through, what it refuses and how it says so.</summary>
public sealed class SchemaHarnessTests : IDisposable
{
    private readonly string _directory = TempDirectory.Create();

    public void Dispose() => TempDirectory.Delete(_directory);

    [Fact]
    public async Task The_valid_sample_passes_with_one_ok_line_per_object()
    {
        var report = await KubernetesTools.ValidateSchemasAsync(Write("shop.yaml", SampleManifests.Shop));

        Assert.Equal(SampleManifests.ShopObjects, Lines(report));
    }

    /// <summary>A name for the breakage, the text of the sample it replaces, its replacement, and what a line of the report says.</summary>
    public static TheoryData<string, string, string, string> BrokenCopies => new()
    {
        {
            "wrong type", "replicas: 2", "replicas: \"two\"",
            "document 3 Deployment shop/catalog: /spec/replicas must be integer"
        },
        {
            "missing required field", "  issuerRef:\n    name: mtls-ca\n    kind: Issuer\n    group: cert-manager.io\n", "",
            "document 7 Certificate shop/catalog-tls: /spec must have required property issuerRef"
        },
        {
            "typo in a certificate's secretName", "  secretName: catalog-tls\n  duration", "  secretNmae: catalog-tls\n  duration",
            "document 7 Certificate shop/catalog-tls: /spec/secretNmae unknown field \"secretNmae\" (did you mean \"secretName\"?)"
        },
        {
            "typo in a pod spec's containers", "containers:", "contianers:",
            "document 3 Deployment shop/catalog: /spec/template/spec/contianers unknown field \"contianers\" (did you mean \"containers\"?)"
        },
        {
            "typo in an optional field", "renewBefore: 8h", "renewBefor: 8h",
            "document 7 Certificate shop/catalog-tls: /spec/renewBefor unknown field \"renewBefor\" (did you mean \"renewBefore\"?)"
        },
        {
            "typo deep in a certificate", "rotationPolicy: Always", "rotationPolcy: Always",
            "document 7 Certificate shop/catalog-tls: /spec/privateKey/rotationPolcy unknown field \"rotationPolcy\" (did you mean \"rotationPolicy\"?)"
        },
        {
            "wrong case in a volume mount", "readOnly: true", "readonly: true",
            "document 3 Deployment shop/catalog: /spec/template/spec/containers/0/volumeMounts/0/readonly unknown field \"readonly\" (did you mean \"readOnly\"?)"
        },
        {
            "value outside an enum", "algorithm: ECDSA", "algorithm: EC",
            "document 7 Certificate shop/catalog-tls: /spec/privateKey/algorithm must be equal to one of the allowed values: \"RSA\", \"ECDSA\", \"Ed25519\""
        },
        {
            "a YAML 1.1 boolean where a string belongs", "MTLS_ENABLED: \"yes\"", "MTLS_ENABLED: yes",
            "document 2 ConfigMap shop/catalog-config: /data/MTLS_ENABLED must be string"
        },
        {
            "no name", "metadata:\n  name: catalog-config\n", "metadata:\n",
            "document 2 ConfigMap shop/(no name): /metadata metadata.name is required"
        },
        {
            "unknown kind", "kind: NetworkPolicy", "kind: NetworkPolicies",
            "document 5 NetworkPolicies shop/catalog: /kind unknown kind \"NetworkPolicies\" in networking.k8s.io/v1: no schema to validate it against"
        },
        {
            "unknown apiVersion", "apiVersion: cert-manager.io/v1\nkind: Issuer", "apiVersion: cert-manager.io/v1alpha2\nkind: Issuer",
            "document 6 Issuer shop/mtls-ca: /apiVersion unknown apiVersion \"cert-manager.io/v1alpha2\" (kind Issuer): no schema to validate it against"
        },
    };

    [Theory]
    [MemberData(nameof(BrokenCopies))]
    public async Task A_broken_copy_fails_naming_the_document_the_object_and_the_problem(string breakage, string original, string replacement, string expected)
    {
        Assert.True(Occurrences(SampleManifests.Shop, original) == 1, $"{breakage}: the sample has \"{original}\" once");
        var file = Write("broken.yaml", SampleManifests.Shop.Replace(original, replacement, StringComparison.Ordinal));

        var failure = await Assert.ThrowsAsync<SchemaValidationException>(() => KubernetesTools.ValidateSchemasAsync(file));

        Assert.True(
            Lines(failure.Message).Any(line => line.StartsWith($"error {file}:", StringComparison.Ordinal) && line.Contains(expected, StringComparison.Ordinal)),
            $"{breakage}: no line with \"{expected}\" in\n{failure.Message}");
        Assert.Contains("1 of 7 document(s) invalid", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_same_object_in_two_files_fails_naming_where_it_was_first()
    {
        var first = Write("first.yaml", SampleManifests.Namespace);
        var second = Write("second.yaml", SampleManifests.Namespace);

        var failure = await Assert.ThrowsAsync<SchemaValidationException>(() => KubernetesTools.ValidateSchemasAsync(first, second));

        Assert.Contains("ok Namespace shop", Lines(failure.Message));
        Assert.Contains($"error {second}:1 document 1 Namespace shop: / the same object is also at {first}:1 document 1", Lines(failure.Message));
    }

    [Fact]
    public async Task A_file_without_objects_fails()
    {
        var file = Write("empty.yaml", "# nothing here\n---\n");

        var failure = await Assert.ThrowsAsync<SchemaValidationException>(() => KubernetesTools.ValidateSchemasAsync(file));

        Assert.Contains("error: no Kubernetes objects in the input", Lines(failure.Message));
    }

    [Fact]
    public async Task A_duplicate_key_fails_as_yaml_before_any_schema()
    {
        var file = Write("duplicate.yaml", SampleManifests.Namespace + "\n  name: shop-again\n");

        var failure = await Assert.ThrowsAsync<SchemaValidationException>(() => KubernetesTools.ValidateSchemasAsync(file));

        Assert.Contains(Lines(failure.Message), line => line.StartsWith($"error {file}:", StringComparison.Ordinal) && line.EndsWith("document 1: YAML: Map keys must be unique", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_kustomization_of_resources_builds_with_kubectl_and_what_it_builds_validates()
    {
        Write("namespace.yaml", SampleManifests.Namespace);
        Write("catalog.yaml", SampleManifests.Catalog);
        Write("pki.yaml", SampleManifests.Pki);
        // What kustomize v2.0.3 (Debian's kubectl 1.20) reads: resources lists files only (directories go in bases),
        // and there are no components, labels, replicas or patches fields.
        Write("kustomization.yaml", """
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            resources:
              - namespace.yaml
              - catalog.yaml
              - pki.yaml
            """);

        var built = await KubernetesTools.KustomizeAsync(_directory);
        var report = await KubernetesTools.ValidateKustomizationAsync(_directory);

        Assert.Equal(7, Occurrences(built, "\n---\n") + 1);
        Assert.Contains("secretName: catalog-tls", built, StringComparison.Ordinal);
        Assert.Equal(SampleManifests.ShopObjects.Order(StringComparer.Ordinal), Lines(report).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_typo_kustomize_passes_through_fails_validation_of_what_it_built()
    {
        Write("pki.yaml", SampleManifests.Pki.Replace("renewBefore: 8h", "renewBefor: 8h", StringComparison.Ordinal));
        Write("kustomization.yaml", "resources:\n  - pki.yaml\n");

        var failure = await Assert.ThrowsAsync<SchemaValidationException>(() => KubernetesTools.ValidateKustomizationAsync(_directory));

        Assert.Contains("Certificate shop/catalog-tls: /spec/renewBefor unknown field \"renewBefor\"", failure.Message, StringComparison.Ordinal);
        var built = Regex.Match(failure.Message, @"^error (\S+):\d+ document", RegexOptions.Multiline).Groups[1].Value;
        Assert.Contains("renewBefor: 8h", File.ReadAllText(built), StringComparison.Ordinal);
        File.Delete(built);
    }

    [Fact]
    public async Task A_kustomization_naming_a_missing_file_fails_with_kubectls_error()
    {
        Write("kustomization.yaml", "resources:\n  - missing.yaml\n");

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => KubernetesTools.KustomizeAsync(_directory));

        Assert.Contains($"kubectl kustomize {_directory} failed", failure.Message, StringComparison.Ordinal);
        Assert.Contains("missing.yaml", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_tool_fails_saying_that_ci_run_installs_it()
    {
        var failure = Assert.Throws<InvalidOperationException>(() => ToolProcess.Find("node", Path.Combine(_directory, "bin")));

        Assert.Contains("`node` is not on PATH", failure.Message, StringComparison.Ordinal);
        Assert.Contains("`.ci/run` installs them", failure.Message, StringComparison.Ordinal);
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static int Occurrences(string text, string part)
    {
        var count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
