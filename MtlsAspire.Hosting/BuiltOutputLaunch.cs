using System.Reflection;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;

namespace MtlsAspire.Hosting;

/// <summary>
/// Runs every project from its build output (<c>dotnet {project}.dll</c>) instead of DCP's default
/// <c>dotnet run --no-build</c>, which evaluates the project with MSBuild before it starts the app, at every start and
/// restart of every project, for an answer (where the assembly is) that the AppHost's own build already had.
/// </summary>
public static class BuiltOutputLaunch
{
    /// <summary>The prefix of the AppHost's assembly metadata that maps a project file to its built assembly (written by its build).</summary>
    public const string MetadataPrefix = "MtlsAspire.ProjectOutput:";

    /// <summary>
    /// In run mode, launches each <see cref="ProjectResource"/> whose built assembly the AppHost's build recorded
    /// (<see cref="AssemblyMetadataAttribute"/> <c>MtlsAspire.ProjectOutput:{project file}</c> = <c>{assembly}</c>) and
    /// which exists, as <c>dotnet {assembly}</c> in the project's directory: the same runtime (the <c>dotnet</c> on PATH),
    /// working directory (so the same content root and appsettings.json), arguments and environment as <c>dotnet run
    /// --no-build --no-launch-profile</c>. Endpoints, service discovery, OTLP and health checks come from the app model
    /// as before. A project with no recorded or no built assembly keeps <c>dotnet run</c> (and its error).
    /// </summary>
    /// <param name="builder">The distributed application builder; call it after every project is added.</param>
    public static IDistributedApplicationBuilder LaunchProjectsFromBuildOutput(this IDistributedApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!builder.ExecutionContext.IsRunMode)
        {
            return builder;
        }

        var outputs = builder.AppHostAssembly?.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Where(a => a.Key.StartsWith(MetadataPrefix, StringComparison.Ordinal) && a.Value is { Length: > 0 })
            .ToDictionary(a => Path.GetFullPath(a.Key[MetadataPrefix.Length..]), a => a.Value!, StringComparer.Ordinal)
            ?? [];
        foreach (var project in builder.Resources.OfType<ProjectResource>())
        {
            var projectPath = Path.GetFullPath(project.GetProjectMetadata().ProjectPath);
            if (!outputs.TryGetValue(projectPath, out var assembly) || !File.Exists(assembly))
            {
                continue;
            }

            project.Annotations.Add(new ExecutableAnnotation { Command = "dotnet", WorkingDirectory = Path.GetDirectoryName(projectPath)! });
            // The assembly is the first argument, before the resource's own: this callback, added last, runs after theirs.
            builder.CreateResourceBuilder(project).WithArgs(context => context.Args.Insert(0, assembly));
        }

        return builder;
    }
}
