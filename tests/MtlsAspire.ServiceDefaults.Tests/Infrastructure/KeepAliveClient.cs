using System.Net;
using System.Net.Sockets;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>
/// A raw client presenting the leaf in a directory that keeps one connection open for every request (HTTP/1.1
/// keep-alive, or one HTTP/2 connection), at exactly the HTTP version asked for; reports the local port of each TCP
/// connection it opens, which is the peer address the server's logs name.
/// </summary>
public static class KeepAliveClient
{
    public static HttpClient Create(Scenario scenario, string directory, Version version, Action<int> onConnect)
    {
        var credentials = ServiceCredentials.Load(new CredentialDirectory(directory));
        var client = RawTlsClient.Create(credentials.Leaf, credentials.Intermediates, scenario.TrustedRoots, configure: handler =>
        {
            handler.PooledConnectionLifetime = Timeout.InfiniteTimeSpan;
            handler.PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan;
            handler.MaxConnectionsPerServer = 1;
            handler.EnableMultipleHttp2Connections = false;
            handler.ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    onConnect(((IPEndPoint)socket.LocalEndPoint!).Port);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        });
        client.DefaultRequestVersion = version;
        client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        return client;
    }
}
