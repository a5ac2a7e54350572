using System.Text.Json;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.Hosting;

/// <summary>Where a running resource can be reached: one entry of <c>{state}/endpoints.json</c>.</summary>
/// <param name="Https">The mTLS API endpoint (services).</param>
/// <param name="Health">The plain health endpoint.</param>
/// <param name="Socket">The Unix socket (Unix-socket resources).</param>
/// <param name="Credentials">The certificate directory (tls.crt, tls.key, ca.crt, crl.pem), for curl and openssl.</param>
/// <param name="SpiffeId">The SPIFFE ID, for resources with an identity.</param>
public sealed record ResourceEndpoints(Uri? Https, Uri? Health, string? Socket, string? Credentials, string? SpiffeId);

/// <summary>
/// <c>{state}/endpoints.json</c>: resource → https, health, socket, credentials, spiffeId, for curl, openssl and
/// scripts. Rewritten (atomically) whenever a resource's endpoints are allocated.
/// </summary>
internal sealed class EndpointsFile(string path)
{
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
    private readonly Dictionary<string, ResourceEndpoints> _entries = new(StringComparer.Ordinal);
    private readonly Lock _writing = new();

    public string Path { get; } = path;

    public void Set(string resource, ResourceEndpoints endpoints)
    {
        lock (_writing)
        {
            // Snapshot and write under one lock, so an older snapshot never lands after a newer one.
            _entries[resource] = endpoints;
            var json = JsonSerializer.Serialize(new SortedDictionary<string, ResourceEndpoints>(_entries, StringComparer.Ordinal), s_json);
            SecureFiles.CreatePrivateDirectory(System.IO.Path.GetDirectoryName(Path)!);
            SecureFiles.ReplaceAtomically(Path, json + "\n", SecureFiles.Public);
        }
    }
}
