using System.Text.Json;

namespace MtlsAspire.Kubernetes.Tests.Infrastructure;

/// <summary>
/// A schema directory's <c>node_modules</c>, installed by <c>npm ci</c> from its committed package-lock.json when missing.
/// Test processes may race to install it: each installs into a staging directory of its own beside it and renames that
/// into place, so <c>node_modules</c> is either absent or complete, and the loser of the rename keeps the winner's.
/// </summary>
public static class NodeModules
{
    private static readonly TimeSpan s_installTimeout = TimeSpan.FromMinutes(5);

    public static async Task EnsureAsync(string schemaDirectory)
    {
        var target = Path.Combine(schemaDirectory, "node_modules");
        if (Directory.Exists(target))
        {
            CheckMatchesLock(schemaDirectory);
            return;
        }

        var staging = Path.Combine(schemaDirectory, $".npm-ci-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            File.Copy(Path.Combine(schemaDirectory, "package.json"), Path.Combine(staging, "package.json"));
            File.Copy(Path.Combine(schemaDirectory, "package-lock.json"), Path.Combine(staging, "package-lock.json"));
            var install = await ToolProcess.RunAsync("npm", ["ci", "--no-audit", "--no-fund"], staging, s_installTimeout);
            if (install.ExitCode != 0)
            {
                throw new InvalidOperationException(
                    $"npm ci --no-audit --no-fund (for {schemaDirectory}) failed with exit code {install.ExitCode}:\n{install.Everything}");
            }

            try
            {
                Directory.Move(Path.Combine(staging, "node_modules"), target);
            }
            catch (IOException) when (Directory.Exists(target))
            {
                // Another test process renamed its install into place first: the same lock, so the same packages.
            }

            CheckMatchesLock(schemaDirectory);
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>
    /// An existing <c>node_modules</c> must be what package-lock.json pins (npm's own record of an install,
    /// node_modules/.package-lock.json, is written last). One that is not is left alone, not replaced under the feet of
    /// another test process that may be using it.
    /// </summary>
    private static void CheckMatchesLock(string schemaDirectory)
    {
        var installedRecord = Path.Combine(schemaDirectory, "node_modules", ".package-lock.json");
        var fix = $"Run `npm ci --no-audit --no-fund` in {schemaDirectory} (it replaces node_modules); {ToolProcess.InstalledBy}.";
        if (!File.Exists(installedRecord))
        {
            throw new InvalidOperationException($"{Path.GetDirectoryName(installedRecord)} is not a finished npm install (no .package-lock.json). {fix}");
        }

        var installed = Packages(installedRecord);
        foreach (var (path, locked) in Packages(Path.Combine(schemaDirectory, "package-lock.json")))
        {
            var present = installed.GetValueOrDefault(path);
            if (present is null ? !locked.Optional : present.Version != locked.Version)
            {
                throw new InvalidOperationException(
                    $"node_modules does not match package-lock.json: {path} is locked at {locked.Version}, installed {present?.Version ?? "not at all"}. {fix}");
            }
        }
    }

    private static Dictionary<string, LockedPackage> Packages(string lockFile)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(lockFile));
        var packages = new Dictionary<string, LockedPackage>();
        foreach (var package in document.RootElement.GetProperty("packages").EnumerateObject())
        {
            if (package.Name.Length == 0)
            {
                continue; // the root project itself
            }

            var version = package.Value.TryGetProperty("version", out var v) ? v.GetString() : null;
            var optional = package.Value.TryGetProperty("optional", out var o) && o.GetBoolean();
            packages[package.Name] = new LockedPackage(version, optional);
        }

        return packages;
    }

    private sealed record LockedPackage(string? Version, bool Optional);
}
