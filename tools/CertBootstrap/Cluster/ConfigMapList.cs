using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MtlsAspire.CertBootstrap.Cluster;

/// <summary>One ConfigMap with one data key.</summary>
/// <param name="Name">The ConfigMap's name.</param>
/// <param name="Key">The data key (the file name services mount).</param>
/// <param name="Value">The file's text.</param>
public sealed record ConfigMapData(string Name, string Key, string Value);

/// <summary>
/// A Kubernetes <c>v1 List</c> of ConfigMaps as JSON, ready for <c>kubectl apply -f</c> (the kubectl image has no shell
/// to assemble one), labelled as MtlsAspire's and as managed by the CA publisher.
/// </summary>
public static class ConfigMapList
{
    /// <summary>The label naming the system the ConfigMaps belong to.</summary>
    public const string PartOf = "mtls-aspire";

    /// <summary>The label naming what writes them.</summary>
    public const string ManagedBy = "mtls-ca-publisher";

    // Relaxed escaping keeps the PEM readable ('+' stays '+'); the file is never embedded in HTML.
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The List document of <paramref name="configMaps"/> in <paramref name="ns"/>, ending with a newline.</summary>
    public static string Build(string ns, IEnumerable<ConfigMapData> configMaps)
    {
        var items = new JsonArray();
        foreach (var map in configMaps)
        {
            items.Add(new JsonObject
            {
                ["apiVersion"] = "v1",
                ["kind"] = "ConfigMap",
                ["metadata"] = new JsonObject
                {
                    ["name"] = map.Name,
                    ["namespace"] = ns,
                    ["labels"] = new JsonObject
                    {
                        ["app.kubernetes.io/part-of"] = PartOf,
                        ["app.kubernetes.io/managed-by"] = ManagedBy,
                    },
                },
                ["data"] = new JsonObject { [map.Key] = map.Value },
            });
        }

        var list = new JsonObject { ["apiVersion"] = "v1", ["kind"] = "List", ["items"] = items };
        return list.ToJsonString(s_json) + "\n";
    }
}
