using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// Puts <see cref="HandshakeAdmission"/> around Kestrel's TLS stage on a listen endpoint: a connection middleware
/// before it takes a slot for the connection's source or closes the connection at once (no <c>SslStream</c>, no
/// exception: the cheapest refusal there is); a marker after it notes that the handshake succeeded. When the TLS stage
/// returns without having called the marker, the handshake failed (refused certificate, garbage, timeout, a peer that
/// hung up), and the source's penalty grows.
/// </summary>
internal static class HandshakeAdmissionMiddleware
{
    /// <summary>Adds the TLS stage with <paramref name="useHttps"/>, behind the admission when it is enabled.</summary>
    public static void UseHttpsBehindAdmission(this ListenOptions listen, HandshakeAdmission admission, Action<ListenOptions> useHttps)
    {
        if (!admission.Enabled)
        {
            useHttps(listen);
            return;
        }

        listen.Use(next => connection => Admit(admission, connection, next));
        useHttps(listen);
        listen.Use(next => connection =>
        {
            connection.Features.Get<HandshakeAdmission.Ticket>()?.Complete(succeeded: true);
            return next(connection);
        });
    }

    private static Task Admit(HandshakeAdmission admission, ConnectionContext connection, ConnectionDelegate next)
    {
        if (!SourceAddress.TryFrom(connection.RemoteEndPoint, out var source))
        {
            return next(connection);
        }

        if (admission.TryAdmit(source) is not { } ticket)
        {
            return Task.CompletedTask; // Kestrel closes the connection
        }

        connection.Features.Set(ticket);
        return HandshakeAsync(connection, next, ticket);
    }

    private static async Task HandshakeAsync(ConnectionContext connection, ConnectionDelegate next, HandshakeAdmission.Ticket ticket)
    {
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            // Already completed as a success when the handshake got through; otherwise it failed.
            ticket.Complete(succeeded: false);
        }
    }
}
