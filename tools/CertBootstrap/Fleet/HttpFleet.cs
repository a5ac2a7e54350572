using MtlsAspire.CertBootstrap.Authority;
using System.Net.Sockets;
using System.Text.Json;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.CertBootstrap.Fleet;

/// <summary>
/// Asks each service's plain management endpoint (<c>GET /mtls/status</c>) what it has loaded. A service that refuses
/// the connection is not running: it reads the current files when it starts, so nothing waits for it.
/// </summary>
public sealed class HttpFleet : IFleet, IDisposable
{
    private readonly HttpClient _client = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly Func<IReadOnlyDictionary<string, Uri>> _statusUrls;

    /// <summary>A fleet of the services at <paramref name="statusUrls"/> (service → its status URL), re-read at every observation.</summary>
    public HttpFleet(Func<IReadOnlyDictionary<string, Uri>> statusUrls) => _statusUrls = statusUrls;

    /// <summary>
    /// The services of an AppHost's <c>endpoints.json</c> (resource → {health, spiffeId, …}) that have an identity:
    /// their status URL is the health endpoint's origin with <see cref="CredentialStatus.Path"/>.
    /// </summary>
    public static HttpFleet FromEndpointsFile(string path) => new(() => ReadEndpointsFile(path));

    /// <summary>The status URLs listed by an <c>endpoints.json</c>; empty when the file does not exist.</summary>
    public static IReadOnlyDictionary<string, Uri> ReadEndpointsFile(string path)
    {
        var urls = new Dictionary<string, Uri>(StringComparer.Ordinal);
        if (!File.Exists(path))
        {
            return urls;
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            foreach (var resource in document.RootElement.EnumerateObject())
            {
                if (resource.Value.TryGetProperty("spiffeId", out var id) && id.ValueKind == JsonValueKind.String
                    && resource.Value.TryGetProperty("health", out var health) && health.ValueKind == JsonValueKind.String
                    && Uri.TryCreate(health.GetString(), UriKind.Absolute, out var healthUrl))
                {
                    urls[resource.Name] = new Uri(healthUrl, CredentialStatus.Path);
                }
            }
        }
        catch (JsonException e)
        {
            throw new PkiException($"{path} is not the AppHost's endpoints file (JSON error: {e.Message}).", e);
        }

        return urls;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<FleetMember>> ObserveAsync(CancellationToken cancellationToken)
    {
        var asks = _statusUrls().Select(pair => AskAsync(pair.Key, pair.Value, cancellationToken));
        return [.. (await Task.WhenAll(asks).ConfigureAwait(false)).OrderBy(m => m.Service, StringComparer.Ordinal)];
    }

    private async Task<FleetMember> AskAsync(string service, Uri url, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await _client.GetAsync(url, cancellationToken).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return new FleetMember(service, null, $"{url} answered {(int)response.StatusCode}");
            }

            return new FleetMember(service, CredentialStatus.Parse(body), null);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
        {
            return new FleetMember(service, null, NotRunning);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return new FleetMember(service, null, $"{url}: {e.Message}");
        }
    }

    /// <summary>The problem text of a service that is not running.</summary>
    public const string NotRunning = "not running (nothing listens on its management port)";

    /// <inheritdoc />
    public void Dispose() => _client.Dispose();
}
