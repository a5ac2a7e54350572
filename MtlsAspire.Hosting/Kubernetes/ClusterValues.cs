using System.Globalization;
using Aspire.Hosting.ApplicationModel;

namespace MtlsAspire.Hosting.Kubernetes;

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
