using System.Reflection;
using MtlsAspire.CertBootstrap;
using MtlsAspire.CertBootstrap.Identity;

namespace MtlsAspire.Hosting;

/// <summary>Settings of a run: where state lives, certificate lifetimes, workers on or off.</summary>
public sealed class MtlsApplicationOptions
{
    /// <summary>Where the PKI, data and sockets live (<c>--state-dir</c>; default <c>.state</c>).</summary>
    public string StateDirectory { get; set; } = Path.GetFullPath(".state");

    /// <summary>Leaf lifetime (<c>--leaf-lifetime</c>; default 24h). Short ones make rotations visible: each leaf is renewed at 2/3.</summary>
    public TimeSpan LeafLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Whether workers (shopper, intruder) run (<c>--no-workers</c> turns them off).</summary>
    public bool Workers { get; set; } = true;

    /// <summary>The SPIFFE trust domain.</summary>
    public string TrustDomain { get; set; } = "mtls-aspire.local";

    /// <summary>The environment in SPIFFE paths.</summary>
    public string Environment { get; set; } = "development";

    /// <summary>The build configuration whose output is run; by default the AppHost's own.</summary>
    public string? Configuration { get; set; }

    /// <summary>How long a resource may take to become healthy.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Where the AppHost writes its own lines and the children's prefixed output.</summary>
    public TextWriter Output { get; set; } = Console.Out;

    /// <summary>An OTLP endpoint passed to every resource (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c> of the AppHost's environment).</summary>
    public string? OtlpEndpoint { get; set; } = System.Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT");

    /// <summary>Parses the AppHost's arguments: <c>--state-dir DIR</c>, <c>--leaf-lifetime 24h</c>, <c>--no-workers</c>.</summary>
    public static MtlsApplicationOptions Parse(string[] args)
    {
        var options = new MtlsApplicationOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--state-dir":
                    options.StateDirectory = Path.GetFullPath(Value());
                    break;
                case "--leaf-lifetime":
                    options.LeafLifetime = Durations.Parse(Value());
                    break;
                case "--no-workers":
                    options.Workers = false;
                    break;
                default:
                    throw new ArgumentException($"Unknown argument '{args[i]}': use --state-dir DIR, --leaf-lifetime DURATION (e.g. 24h, 3m), --no-workers.");
            }
        }

        return options;
    }
}

/// <summary>
/// Builds the app model: resources (projects), their identities, references and start order. Shaped like Aspire's
/// distributed application builder; a project is found by the name its AppHost gave it in
/// <c>[assembly: AssemblyMetadata("MtlsAspire.Project:{Name}", "{path to .csproj}")]</c> (generated from the AppHost's project references).
/// </summary>
public sealed class MtlsApplicationBuilder
{
    private readonly Dictionary<string, string> _projects;

    /// <summary>Creates a builder over the projects the <paramref name="appHost"/> assembly references.</summary>
    public MtlsApplicationBuilder(MtlsApplicationOptions options, Assembly appHost)
    {
        Options = options;
        _projects = appHost.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Where(a => a.Key.StartsWith("MtlsAspire.Project:", StringComparison.Ordinal) && a.Value is not null)
            .ToDictionary(a => a.Key["MtlsAspire.Project:".Length..], a => a.Value!, StringComparer.Ordinal);
        Options.Configuration ??= appHost.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "MtlsAspire.Configuration")?.Value ?? "Debug";
    }

    /// <summary>The settings of this run.</summary>
    public MtlsApplicationOptions Options { get; }

    /// <summary>The resources, in the order added.</summary>
    public List<ProjectResource> Resources { get; } = [];

    /// <summary>Adds the project <paramref name="project"/> (a ProjectReference of the AppHost) as the resource <paramref name="name"/>.</summary>
    public ProjectResourceBuilder AddProject(string name, string project)
    {
        NameRules.ThrowIfInvalid(name, "resource");
        if (Resources.Any(r => r.Name == name))
        {
            throw new ArgumentException($"A resource named '{name}' was already added.", nameof(name));
        }

        if (!_projects.TryGetValue(project, out var path))
        {
            throw new ArgumentException($"Resource '{name}': the AppHost has no project reference named '{project}' (known: {string.Join(", ", _projects.Keys)}).", nameof(project));
        }

        var resource = new ProjectResource(name, path, this);
        Resources.Add(resource);
        return new ProjectResourceBuilder(resource);
    }

    /// <summary>Builds the application; resources of kind worker are left out with <c>--no-workers</c>.</summary>
    public MtlsApplication Build()
    {
        var resources = Resources.Where(r => Options.Workers || r.Kind != ResourceKind.Worker).ToList();
        foreach (var resource in resources)
        {
            foreach (var dependency in resource.WaitsFor.Concat(resource.References))
            {
                if (!resources.Contains(dependency))
                {
                    throw new InvalidOperationException($"Resource '{resource.Name}' depends on '{dependency.Name}', which is not part of this run.");
                }
            }
        }

        return new MtlsApplication(Options, resources);
    }
}
