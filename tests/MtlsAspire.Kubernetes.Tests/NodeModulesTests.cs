using MtlsAspire.Kubernetes.Tests.Infrastructure;

namespace MtlsAspire.Kubernetes.Tests;

/// <summary>How the harness installs its node packages when a test run finds them missing.</summary>
public sealed class NodeModulesTests : IDisposable
{
    private readonly string _schema = TempDirectory.Create();

    public NodeModulesTests()
    {
        foreach (var file in new[] { "package.json", "package-lock.json", "validate.mjs" })
        {
            File.Copy(Path.Combine(KubernetesTools.SchemaDirectory, file), Path.Combine(_schema, file));
        }
    }

    public void Dispose() => TempDirectory.Delete(_schema);

    [Fact]
    public async Task Two_installs_racing_into_a_schema_directory_leave_one_complete_node_modules_that_validates()
    {
        await Task.WhenAll(NodeModules.EnsureAsync(_schema), NodeModules.EnsureAsync(_schema));

        Assert.True(File.Exists(Path.Combine(_schema, "node_modules", ".package-lock.json")));
        Assert.Equal(["node_modules"], Directory.GetDirectories(_schema).Select(Path.GetFileName));
        var sample = Path.Combine(_schema, "shop.yaml");
        await File.WriteAllTextAsync(sample, SampleManifests.Shop);
        var validation = await ToolProcess.RunAsync("node", [Path.Combine(_schema, "validate.mjs"), sample], _schema, TimeSpan.FromMinutes(1));
        Assert.True(validation.ExitCode == 0, validation.Everything);
        await NodeModules.EnsureAsync(_schema); // installed: nothing to do
    }

    [Fact]
    public async Task A_node_modules_left_half_installed_is_refused_not_replaced()
    {
        Directory.CreateDirectory(Path.Combine(_schema, "node_modules", "yaml"));

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => NodeModules.EnsureAsync(_schema));

        Assert.Contains("is not a finished npm install (no .package-lock.json)", failure.Message, StringComparison.Ordinal);
        Assert.Contains($"Run `npm ci --no-audit --no-fund` in {_schema}", failure.Message, StringComparison.Ordinal);
        Assert.True(Directory.Exists(Path.Combine(_schema, "node_modules", "yaml")));
    }

    [Fact]
    public async Task A_node_modules_installed_from_an_older_lock_is_refused_naming_the_package()
    {
        var installed = File.ReadAllText(Path.Combine(_schema, "package-lock.json"))
            .Replace("\"node_modules/yaml\": {\n      \"version\": \"2.9.1\"", "\"node_modules/yaml\": {\n      \"version\": \"2.8.0\"", StringComparison.Ordinal);
        Assert.Contains("2.8.0", installed, StringComparison.Ordinal);
        Directory.CreateDirectory(Path.Combine(_schema, "node_modules"));
        File.WriteAllText(Path.Combine(_schema, "node_modules", ".package-lock.json"), installed);

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => NodeModules.EnsureAsync(_schema));

        Assert.Contains("node_modules/yaml is locked at 2.9.1, installed 2.8.0", failure.Message, StringComparison.Ordinal);
    }
}
