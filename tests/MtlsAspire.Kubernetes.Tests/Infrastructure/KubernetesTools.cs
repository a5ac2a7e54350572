using System.Reflection;

namespace MtlsAspire.Kubernetes.Tests.Infrastructure;

/// <summary>
/// The offline checks of published Kubernetes manifests: their schemas (node running schema/validate.mjs over
/// kubernetes-models and cert-manager's CRD schemas, unknown fields refused) and what kustomize builds of them
/// (kubectl kustomize). A missing tool fails the test, saying that `.ci/run` installs it; nothing is skipped.
/// </summary>
public static class KubernetesTools
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(1);

    /// <summary>tests/MtlsAspire.Kubernetes.Tests/schema in the source tree: package.json, package-lock.json, validate.mjs, node_modules.</summary>
    public static string SchemaDirectory { get; } = typeof(KubernetesTools).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(attribute => attribute.Key == "KubernetesSchemaDirectory").Value!;

    // Once per test run; NodeModules makes it safe against other test processes too.
    private static readonly Lazy<Task> s_nodeModules = new(() => NodeModules.EnsureAsync(SchemaDirectory));

    /// <summary>
    /// Validates every document of every file against the schema of its apiVersion and kind. Returns validate.mjs's
    /// report (<c>ok Kind namespace/name</c> per object); throws <see cref="SchemaValidationException"/> with the report
    /// when any object is invalid, of an unknown kind or has a field its schema does not.
    /// </summary>
    public static async Task<string> ValidateSchemasAsync(params string[] yamlFiles)
    {
        ArgumentOutOfRangeException.ThrowIfZero(yamlFiles.Length);
        await EnsureNodeModulesAsync();
        var script = Path.Combine(SchemaDirectory, "validate.mjs");
        var result = await ToolProcess.RunAsync("node", [script, .. yamlFiles.Select(Path.GetFullPath)], SchemaDirectory, s_timeout);
        return result.ExitCode switch
        {
            0 => result.Output,
            1 => throw new SchemaValidationException($"Schema validation of {string.Join(", ", yamlFiles)} failed:\n{result.Everything}"),
            _ => throw new InvalidOperationException($"validate.mjs could not run (exit code {result.ExitCode}):\n{result.Everything}"),
        };
    }

    /// <summary>Runs <c>kubectl kustomize <paramref name="directory"/></c> and returns the YAML it builds; throws with kubectl's error when the build fails.</summary>
    public static async Task<string> KustomizeAsync(string directory)
    {
        var fullPath = Path.GetFullPath(directory);
        var result = await ToolProcess.RunAsync("kubectl", ["kustomize", fullPath], fullPath, s_timeout);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"kubectl kustomize {fullPath} failed (exit code {result.ExitCode}):\n{result.Everything}");
        }

        return result.Output;
    }

    /// <summary>
    /// Builds <paramref name="directory"/> with kustomize and validates what it builds, as <see cref="ValidateSchemasAsync"/>
    /// does. When that fails, the built YAML is kept in the temp directory for the report's file:line to point into.
    /// </summary>
    public static async Task<string> ValidateKustomizationAsync(string directory)
    {
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));
        var built = Path.Combine(Path.GetTempPath(), $"kustomize-{name}-{Guid.NewGuid().ToString("N")[..12]}.yaml");
        await File.WriteAllTextAsync(built, await KustomizeAsync(directory));
        var report = await ValidateSchemasAsync(built);
        File.Delete(built);
        return report;
    }

    /// <summary>
    /// Installs schema/node_modules with <c>npm ci --no-audit --no-fund</c> when it is missing (once per test run;
    /// safe when test processes race). <see cref="ValidateSchemasAsync"/> calls it itself.
    /// </summary>
    public static Task EnsureNodeModulesAsync() => s_nodeModules.Value;
}
