using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// Kestrel's socket transport, with the cheapest refusal there is for the mTLS endpoints: a connection from a source
/// <see cref="HandshakeAdmission"/> has penalised is closed in the accept loop, before Kestrel makes a connection of it
/// (no pipes, no thread-pool work, no middleware). Everything else, and every other endpoint, is Kestrel's own
/// (<see cref="SocketConnectionContextFactory"/>, the <see cref="SocketTransportOptions"/>). The connection middleware
/// (<see cref="HandshakeAdmissionMiddleware"/>) still takes the slots and judges whatever this lets through.
/// </summary>
internal sealed class AdmissionTransportFactory(IOptions<SocketTransportOptions> options, ILoggerFactory loggers, HandshakeAdmission admission)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly SocketTransportFactory _sockets = new(options, loggers);

    public bool CanBind(EndPoint endpoint) => _sockets.CanBind(endpoint);

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        admission.Enabled && admission.Guards(endpoint)
            ? ValueTask.FromResult<IConnectionListener>(new Listener(endpoint, options.Value, loggers.CreateLogger<AdmissionTransportFactory>(), admission))
            : _sockets.BindAsync(endpoint, cancellationToken);

    private sealed class Listener : IConnectionListener
    {
        private readonly Socket _socket;
        private readonly SocketConnectionContextFactory _connections;
        private readonly HandshakeAdmission _admission;
        private readonly bool _noDelay;

        public Listener(EndPoint endpoint, SocketTransportOptions options, ILogger logger, HandshakeAdmission admission)
        {
            _admission = admission;
            _noDelay = options.NoDelay;
            _socket = options.CreateBoundListenSocket(endpoint);
            _socket.Listen(options.Backlog);
            EndPoint = _socket.LocalEndPoint!;
            _connections = new SocketConnectionContextFactory(new SocketConnectionFactoryOptions
            {
                IOQueueCount = options.IOQueueCount,
                WaitForDataBeforeAllocatingBuffer = options.WaitForDataBeforeAllocatingBuffer,
                MaxReadBufferSize = options.MaxReadBufferSize,
                MaxWriteBufferSize = options.MaxWriteBufferSize,
                UnsafePreferInlineScheduling = options.UnsafePreferInlineScheduling,
            }, logger);
        }

        public EndPoint EndPoint { get; }

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                Socket socket;
                try
                {
                    socket = await _socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (ObjectDisposedException)
                {
                    return null; // unbound
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.OperationAborted)
                {
                    return null;
                }
                catch (SocketException)
                {
                    // Reset in the backlog, or out of descriptors under a flood: try again, as Kestrel's own listener does. An
                    // exception out of AcceptAsync would end Kestrel's accept loop, and the endpoint would accept nothing more.
                    continue;
                }

                if (SourceAddress.TryFrom(socket.RemoteEndPoint, out var source) && _admission.RefusePenalised(source))
                {
                    // A reset, as HAProxy's "tcp-request connection reject" does: no FIN exchange and no TIME_WAIT kept
                    // for each refused connection.
                    socket.LingerState = new LingerOption(true, 0);
                    socket.Dispose();
                    continue;
                }

                socket.NoDelay = _noDelay;
                return _connections.Create(socket);
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            _socket.Dispose();
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            _socket.Dispose();
            _connections.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
