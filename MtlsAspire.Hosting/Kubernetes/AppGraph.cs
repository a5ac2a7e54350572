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
