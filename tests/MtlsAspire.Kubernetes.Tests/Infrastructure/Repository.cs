namespace MtlsAspire.Kubernetes.Tests.Infrastructure;

/// <summary>Where the repository and its build outputs are.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string AppHostProject => Path.Combine(Root, "MtlsAspire.AppHost");

    /// <summary>The configuration this test assembly was built in (the services were built in the same one).</summary>
    public static string Configuration =>
#if DEBUG
        "Debug";
#else
        "Release";
#endif

    /// <summary>
    /// The built program an image of ours runs: <c>mtls-aspire/legacy-proxy:tag</c> → <c>services/LegacyProxy/bin/…/LegacyProxy.dll</c>,
    /// <c>mtls-aspire/certbootstrap:tag</c> → <c>tools/CertBootstrap/bin/…/CertBootstrap.dll</c>. The image's entrypoint is
    /// <c>dotnet {Project}.dll</c> (what <c>dotnet publish -t:PublishContainer</c> makes).
    /// </summary>
    public static string ProgramOf(string image)
    {
        var repository = image.Split(':')[0];
        var name = repository[(repository.LastIndexOf('/') + 1)..].Replace("-", string.Empty, StringComparison.Ordinal);
        foreach (var parent in new[] { "services", "tools" })
        {
            foreach (var project in System.IO.Directory.EnumerateDirectories(Path.Combine(Root, parent)))
            {
                var projectName = Path.GetFileName(project);
                if (string.Equals(projectName, name, StringComparison.OrdinalIgnoreCase))
                {
                    var dll = Path.Combine(project, "bin", Configuration, "net10.0", projectName + ".dll");
                    return File.Exists(dll) ? dll : throw new InvalidOperationException($"{dll} is not built.");
                }
            }
        }

        throw new InvalidOperationException($"No project of ours builds the image '{image}'.");
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "MtlsAspire.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("MtlsAspire.sln not found above the test assembly.");
    }
}
