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
    /// The built program an image of ours runs: the project whose <c>&lt;ContainerRepository&gt;</c> the image's
    /// repository ends with (<c>localhost:5000/mtls-aspire/legacy-proxy:latest</c> → <c>services/LegacyProxy</c>, which
    /// names <c>mtls-aspire/legacy-proxy</c>), as <c>services/LegacyProxy/bin/…/LegacyProxy.dll</c>. The image's entrypoint
    /// is <c>dotnet {Project}.dll</c> (what <c>dotnet publish -t:PublishContainer</c> makes).
    /// </summary>
    public static string ProgramOf(string image)
    {
        var lastSlash = image.LastIndexOf('/');
        var tag = image.IndexOf(':', lastSlash + 1);
        var repository = tag < 0 ? image : image[..tag];
        foreach (var parent in new[] { "services", "tools" })
        {
            foreach (var project in System.IO.Directory.EnumerateDirectories(Path.Combine(Root, parent)))
            {
                var projectName = Path.GetFileName(project);
                var csproj = Path.Combine(project, projectName + ".csproj");
                if (File.Exists(csproj)
                    && System.Text.RegularExpressions.Regex.Match(File.ReadAllText(csproj), "<ContainerRepository>([^<]+)</ContainerRepository>") is { Success: true } named
                    && (repository == named.Groups[1].Value || repository.EndsWith("/" + named.Groups[1].Value, StringComparison.Ordinal)))
                {
                    var dll = Path.Combine(project, "bin", Configuration, "net10.0", (projectName == "CertBootstrap" ? "CertBootstrap" : projectName) + ".dll");
                    return File.Exists(dll) ? dll : throw new InvalidOperationException($"{dll} is not built.");
                }
            }
        }

        throw new InvalidOperationException($"No project of ours names the image '{image}' in its <ContainerRepository>.");
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
