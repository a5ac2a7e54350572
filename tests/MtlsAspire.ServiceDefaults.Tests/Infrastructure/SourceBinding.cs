using System.Net;
using System.Net.Sockets;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>
/// Connections from a chosen loopback source address (on Linux all of 127.0.0.0/8 is loopback), so that one test can be
/// two peers to a server's per-address bookkeeping: 127.0.0.1 and 127.0.0.2.
/// </summary>
public static class SourceBinding
{
    public static readonly IPAddress Flooder = IPAddress.Parse("127.0.0.2");

    /// <summary>A TCP connection to <paramref name="server"/> from <paramref name="source"/>.</summary>
    public static async Task<Socket> ConnectAsync(IPAddress source, IPEndPoint server, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(server, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Makes <paramref name="handler"/> connect from <paramref name="source"/> (the URL's host must be an IPv4 address).</summary>
    public static void From(SocketsHttpHandler handler, IPAddress source) => handler.ConnectCallback = async (context, cancellationToken) =>
        new NetworkStream(await ConnectAsync(source, new IPEndPoint(IPAddress.Parse(context.DnsEndPoint.Host), context.DnsEndPoint.Port), cancellationToken),
            ownsSocket: true);
}
