using MtlsAspire.CertBootstrap.Identity;

namespace MtlsAspire.Hosting;

/// <summary>How a resource listens.</summary>
public enum ResourceKind
{
    /// <summary>An mTLS API endpoint (https) and a plain management endpoint (http, health only).</summary>
    Service,

    /// <summary>A background worker: only the management endpoint.</summary>
    Worker,

    /// <summary>A plain-HTTP app reachable only through a Unix domain socket in a private directory (no TCP port).</summary>
    UnixSocket,
}

/// <summary>A project the app model runs: its name (lowercase kebab-case), build output, endpoints, references and identity.</summary>
public sealed class ProjectResource
{
    internal ProjectResource(string name, string projectPath, MtlsApplicationBuilder owner)
    {
        Name = name;
        ProjectPath = projectPath;
        Owner = owner;
    }

    internal MtlsApplicationBuilder Owner { get; }

    /// <summary>The resource name (also the service-discovery name and the SPIFFE service account).</summary>
    public string Name { get; }

    /// <summary>The .csproj it runs.</summary>
    public string ProjectPath { get; }

    /// <summary>Service, worker or Unix-socket app.</summary>
    public ResourceKind Kind { get; internal set; } = ResourceKind.Service;

    /// <summary>True when the resource gets a SPIFFE identity (certificate directory).</summary>
    public bool HasIdentity { get; internal set; }

    /// <summary>The resources this one calls. Each reference is also an allow rule on the callee and a NetworkPolicy.</summary>
    public List<ProjectResource> References { get; } = [];

    /// <summary>Resources whose address this one knows without being allowed to call them (see <see cref="ProjectResourceBuilder.WithEndpointOf"/>).</summary>
    public List<ProjectResource> Discovers { get; } = [];

    /// <summary>True when the resource gets a kit of certificates that must be refused (expired, revoked, serverAuth-only, rogue CA).</summary>
    public bool HasRejectionKit { get; internal set; }

    /// <summary>The resources that must be healthy before this one starts.</summary>
    public List<ProjectResource> WaitsFor { get; } = [];

    /// <summary>Extra environment variables.</summary>
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    /// <summary>The caller rule this resource's endpoints name (<c>RequireCallersFromRule</c>): <c>{name}-api</c>.</summary>
    public string CallerRule => $"{Name}-api";

    /// <summary>The build output this resource runs.</summary>
    public string AssemblyPath => Path.Combine(Path.GetDirectoryName(ProjectPath)!, "bin", Owner.Options.Configuration ?? "Debug", "net10.0",
        Path.GetFileNameWithoutExtension(ProjectPath) + ".dll");

    /// <summary>The resources whose references make them callers of this one.</summary>
    public IEnumerable<ProjectResource> Callers => Owner.Resources.Where(r => r.References.Contains(this));

    /// <summary>This resource's SPIFFE ID in the app's trust domain and environment.</summary>
    public SpiffeId SpiffeId => SpiffeId.ForWorkload(Owner.Options.TrustDomain, Owner.Options.Environment, Name);

    /// <summary>The Unix socket path of a <see cref="ResourceKind.UnixSocket"/> resource (in a 0700 directory).</summary>
    public string SocketPath => Path.Combine(Owner.Options.StateDirectory, "run", Name, "app.sock");

    /// <summary>Where the resource's data lives.</summary>
    public string DataDirectory => Path.Combine(Owner.Options.StateDirectory, "data", Name);
}

/// <summary>The fluent API over a <see cref="ProjectResource"/>: give it an identity, reference what it calls, wait for it.</summary>
public sealed class ProjectResourceBuilder
{
    internal ProjectResourceBuilder(ProjectResource resource) => Resource = resource;

    /// <summary>The resource.</summary>
    public ProjectResource Resource { get; }

    /// <summary>Issues the resource a SPIFFE identity: <c>spiffe://{td}/ns/{env}/sa/{name}</c>, renewed while it runs.</summary>
    public ProjectResourceBuilder WithMtlsIdentity()
    {
        Resource.HasIdentity = true;
        return this;
    }

    /// <summary>
    /// This resource calls <paramref name="callee"/>: it gets <c>services__{callee}__https__0</c>, and the callee's caller
    /// rule (<c>{callee}-api</c>) allows this resource's identity. The one source of truth for who may call whom.
    /// </summary>
    public ProjectResourceBuilder WithReference(ProjectResourceBuilder callee)
    {
        Resource.References.Add(callee.Resource);
        return this;
    }

    /// <summary>
    /// This resource knows where <paramref name="target"/> is (<c>services__{target}__https__0</c>) but is <em>not</em>
    /// allowed to call it: no rule is added. For the demo of rejections.
    /// </summary>
    public ProjectResourceBuilder WithEndpointOf(ProjectResourceBuilder target)
    {
        Resource.Discovers.Add(target.Resource);
        return this;
    }

    /// <summary>
    /// Gives the resource, in <c>Intruder__Kit</c>, a directory of certificates every service must refuse: expired,
    /// revoked, serverAuth-only (all from this PKI) and one from a rogue CA — each a tls.crt/tls.key set.
    /// </summary>
    public ProjectResourceBuilder WithRejectionKit()
    {
        Resource.HasRejectionKit = true;
        return this;
    }

    /// <summary>Starts this resource only once <paramref name="dependency"/> is healthy.</summary>
    public ProjectResourceBuilder WaitFor(ProjectResourceBuilder dependency)
    {
        Resource.WaitsFor.Add(dependency.Resource);
        return this;
    }

    /// <summary>A background worker: no API endpoint, only health.</summary>
    public ProjectResourceBuilder AsWorker()
    {
        Resource.Kind = ResourceKind.Worker;
        return this;
    }

    /// <summary>Plain HTTP on a Unix domain socket in a 0700 directory: nothing but a process of the same user can reach it.</summary>
    public ProjectResourceBuilder ListenOnUnixSocket()
    {
        Resource.Kind = ResourceKind.UnixSocket;
        return this;
    }

    /// <summary>Sets an environment variable of the resource.</summary>
    public ProjectResourceBuilder WithEnvironment(string name, string value)
    {
        Resource.Environment[name] = value;
        return this;
    }
}
