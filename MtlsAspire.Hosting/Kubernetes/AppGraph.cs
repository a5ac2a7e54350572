using System.Globalization;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;

namespace MtlsAspire.Hosting.Kubernetes;

/// <summary>One container of a pod, as the app model describes it.</summary>
/// <param name="Name">The resource name (the container's and, for a pod's main container, the pod's).</param>
/// <param name="Environment">The resource's environment as the model gives it in publish mode, still unresolved.</param>
/// <param name="HasHttps">Whether the resource has the mTLS endpoint <c>https</c>.</param>
/// <param name="Replicas">Replicas from the model (<c>WithReplicas</c>), default 1.</param>
internal sealed record AppContainer(string Name, IReadOnlyDictionary<string, object> Environment, bool HasHttps, int Replicas)
{
    /// <summary>The Unix socket this resource listens on (<c>ListenOnUnixSocket</c>), or null.</summary>
    public string? UnixSocket { get; init; }
}

/// <summary>A pod: a service with an identity and, in the same pod, the socket-only resources only it references.</summary>
internal sealed record AppPod(AppContainer Main, IReadOnlyList<AppContainer> Sidecars, IReadOnlyList<string> Callers);

/// <summary>
/// What the publish step reads from the app model: every resource with an identity of <see cref="PkiResource"/>
/// becomes a pod; a resource that serves only a Unix socket (<c>ListenOnUnixSocket</c>) goes into the pod of the one
/// resource that references it, so its plain HTTP never leaves the pod; the callers of a pod are the resources with a
/// <c>WithReference</c> to it (its allow rules locally, its NetworkPolicy in the cluster).
/// </summary>
internal sealed record AppGraph(IReadOnlyList<AppPod> Pods)
{
    public static async Task<AppGraph> ReadAsync(DistributedApplicationModel model, PkiResource pki, DistributedApplicationExecutionContext context, CancellationToken cancellationToken)
    {
        var published = model.Resources.Where(r => !r.IsExcludedFromPublish()).ToList();
        var identities = published.Where(r => r.Annotations.OfType<MtlsIdentityAnnotation>().Any(a => a.Pki == pki)).ToList();
        var pods = new List<AppPod>();
        foreach (var resource in identities)
        {
            var sidecars = new List<AppContainer>();
            foreach (var referenced in ReferencesOf(resource).Where(r => r.Annotations.OfType<UnixSocketAnnotation>().Any()))
            {
                var referrers = published.Where(r => ReferencesOf(r).Contains(referenced)).Select(r => r.Name).ToList();
                if (referrers.Count != 1)
                {
                    throw new InvalidOperationException($"'{referenced.Name}' listens only on a Unix socket, so it must share the pod of the one resource that calls it; " +
                        $"it is referenced by {string.Join(", ", referrers)}.");
                }

                sidecars.Add(await ContainerAsync(referenced, context, cancellationToken).ConfigureAwait(false));
            }

            var callers = identities.Where(r => ReferencesOf(r).Contains(resource)).Select(r => r.Name).Order(StringComparer.Ordinal).ToList();
            pods.Add(new AppPod(await ContainerAsync(resource, context, cancellationToken).ConfigureAwait(false), sidecars, callers));
        }

        var placed = pods.SelectMany(p => p.Sidecars.Select(s => s.Name).Append(p.Main.Name)).ToHashSet(StringComparer.Ordinal);
        if (published.OfType<IResourceWithEnvironment>().FirstOrDefault(r => !ReferenceEquals(r, pki) && !placed.Contains(r.Name)) is { } orphan)
        {
            throw new InvalidOperationException($"'{orphan.Name}' has no mTLS identity and no caller whose pod it could share: " +
                "give it WithMtlsIdentity, or ExcludeFromManifest() if it is for local runs only.");
        }

        return new AppGraph(pods);
    }

    private static List<IResource> ReferencesOf(IResource resource) => [.. resource.Annotations.OfType<ResourceRelationshipAnnotation>()
        .Where(a => a.Type == "Reference").Select(a => a.Resource).Distinct()];

    private static async Task<AppContainer> ContainerAsync(IResource resource, DistributedApplicationExecutionContext context, CancellationToken cancellationToken)
    {
        var environment = new Dictionary<string, object>(StringComparer.Ordinal);
        if (resource is IResourceWithEnvironment)
        {
            var callbackContext = new EnvironmentCallbackContext(context, resource, environment, cancellationToken);
            foreach (var callback in resource.Annotations.OfType<EnvironmentCallbackAnnotation>())
            {
                await callback.Callback(callbackContext).ConfigureAwait(false);
            }
        }

        return new AppContainer(
            resource.Name,
            environment,
            resource.Annotations.OfType<EndpointAnnotation>().Any(e => e.Name == "https"),
            resource.Annotations.OfType<ReplicaAnnotation>().LastOrDefault()?.Replicas ?? 1)
        {
            UnixSocket = resource.Annotations.OfType<UnixSocketAnnotation>().LastOrDefault()?.SocketPath,
        };
    }
}

/// <summary>
/// Turns the model's publish-mode environment values into what a container in the cluster gets: an endpoint reference
/// becomes the in-cluster URL of the Service (<c>https://payment:8443</c>), and a path under the local state directory
/// becomes the path of the volume mounted for it (<c>{state}/run/{name}</c> → <c>/run/{name}</c>,
/// <c>{state}/data/{name}</c> → <c>/var/lib/{name}</c>). Any other local path is an error, not a silently broken pod.
/// </summary>
internal sealed class ClusterValues(string stateDirectory, KubernetesOptions options)
{
    /// <summary>The in-pod directory of a resource's runtime files (its Unix socket), an emptyDir shared within the pod.</summary>
    public static string RunDirectory(string resource) => $"/run/{resource}";

    /// <summary>The in-pod directory of a resource's data, an emptyDir.</summary>
    public static string DataDirectory(string resource) => $"/var/lib/{resource}";

    /// <summary>The local directories that map to in-pod volumes, used by a container: (volume name, in-pod path).</summary>
    public HashSet<(string Volume, string Path)> Used { get; } = [];

    public string Resolve(string variable, object value) => value switch
    {
        string text => MapPaths(variable, text),
        EndpointReference endpoint => Url(endpoint),
        EndpointReferenceExpression { Property: EndpointProperty.Url } url => Url(url.Endpoint),
        EndpointReferenceExpression { Property: EndpointProperty.Host or EndpointProperty.IPV4Host } host => host.Endpoint.Resource.Name,
        EndpointReferenceExpression { Property: EndpointProperty.Port or EndpointProperty.TargetPort } port => PortOf(port.Endpoint.EndpointName).ToString(CultureInfo.InvariantCulture),
        ReferenceExpression { IsConditional: false } expression => MapPaths(variable, string.Format(CultureInfo.InvariantCulture, expression.Format,
            [.. expression.ValueProviders.Select(p => (object)Resolve(variable, p))])),
        _ => throw new InvalidOperationException($"Environment variable {variable}: cannot publish a value of type {value.GetType().Name} to Kubernetes."),
    };

    public int PortOf(string endpointName) => endpointName == "https" ? options.HttpsPort : options.ManagementPort;

    private string Url(EndpointReference endpoint) =>
        $"{endpoint.Scheme}://{endpoint.Resource.Name}:{PortOf(endpoint.EndpointName).ToString(CultureInfo.InvariantCulture)}";

    private string MapPaths(string variable, string text)
    {
        var state = stateDirectory.TrimEnd('/');
        var at = text.IndexOf(state + "/", StringComparison.Ordinal);
        if (at < 0)
        {
            return text;
        }

        // {state}/{run|data}/{resource}/rest
        var relative = text[(at + state.Length + 1)..].Split('/', 3);
        if (relative.Length < 2 || relative[0] is not ("run" or "data"))
        {
            throw new InvalidOperationException($"Environment variable {variable} names a path in the local state directory ({text}) that has no volume in the cluster.");
        }

        var (volume, path) = relative[0] == "run"
            ? ($"run-{relative[1]}", RunDirectory(relative[1]))
            : ($"data-{relative[1]}", DataDirectory(relative[1]));
        Used.Add((volume, path));
        var rest = relative.Length > 2 ? "/" + relative[2] : string.Empty;
        return string.Concat(text.AsSpan(0, at), path, rest);
    }
}
