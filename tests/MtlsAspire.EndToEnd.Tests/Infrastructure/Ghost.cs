namespace MtlsAspire.EndToEnd.Tests.Infrastructure;

/// <summary>A project that was never built: its directory has a .csproj and no bin/.</summary>
public static class Ghost
{
    public static string Project { get; } = Create();

    private static string Create()
    {
        var directory = Path.Combine(Path.GetTempPath(), "mtls-apphost-tests", "ghost-" + Guid.NewGuid().ToString("N")[..8], "Ghost");
        Directory.CreateDirectory(directory);
        var project = Path.Combine(directory, "Ghost.csproj");
        File.WriteAllText(project, "<Project Sdk=\"Microsoft.NET.Sdk.Web\"><PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup></Project>\n");
        return project;
    }
}
