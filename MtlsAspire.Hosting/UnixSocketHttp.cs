using System.Net.Sockets;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MtlsAspire.Hosting;

/// <summary>Plain HTTP over a Unix domain socket: the AppHost's health check of legacy-ledger, and tests.</summary>
public static class UnixSocketHttp
{
    /// <summary>An HttpClient whose every connection goes to <paramref name="socketPath"/> (the URI's host is only the Host header).</summary>
    public static HttpClient CreateClient(string socketPath, TimeSpan? timeout = null)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri("http://localhost/"), Timeout = timeout ?? TimeSpan.FromSeconds(5) };
    }
}

/// <summary>Healthy when <c>GET /health</c> over the socket answers with success.</summary>
internal sealed class UnixSocketHealthCheck(string socketPath) : IHealthCheck
{
    private readonly HttpClient _client = UnixSocketHttp.CreateClient(socketPath);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(socketPath))
        {
            return HealthCheckResult.Unhealthy($"{socketPath} does not exist yet");
        }

        try
        {
            using var response = await _client.GetAsync(new Uri("/health", UriKind.Relative), cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode
                ? HealthCheckResult.Healthy($"GET /health over {socketPath}: {(int)response.StatusCode}")
                : HealthCheckResult.Unhealthy($"GET /health over {socketPath}: {(int)response.StatusCode}");
        }
        catch (Exception e) when (e is HttpRequestException or IOException or SocketException or TaskCanceledException)
        {
            return HealthCheckResult.Unhealthy($"GET /health over {socketPath}: {e.Message}");
        }
    }
}
