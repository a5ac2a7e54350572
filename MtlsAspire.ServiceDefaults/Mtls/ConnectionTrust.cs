using Microsoft.AspNetCore.Connections;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// What one mTLS connection knows of its client certificate: which credential generation last accepted it, and whether
/// it has been refused since. Put in the connection's items once, by the handshake (which runs alone); afterwards the
/// items are only read, and this object is changed with interlocked operations, because every HTTP/2 stream of the
/// connection reads and updates it at the same time (a connection's items are a plain dictionary).
/// </summary>
internal sealed class ConnectionTrust(ConnectionContext connection, long generation)
{
    /// <summary>The connection item holding it.</summary>
    internal const string Item = "mtls.connection.trust";

    private long _generation = generation;
    private int _refused;

    /// <summary>The generation that last accepted the client certificate.</summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>Notes that <paramref name="generation"/> accepted the certificate (never moves back to an older one).</summary>
    public void Accepted(long generation)
    {
        var seen = Interlocked.Read(ref _generation);
        while (generation > seen)
        {
            var was = Interlocked.CompareExchange(ref _generation, generation, seen);
            if (was == seen)
            {
                return;
            }

            seen = was;
        }
    }

    /// <summary>True once the certificate was refused on this connection: it is being closed.</summary>
    public bool IsRefused => Volatile.Read(ref _refused) != 0;

    /// <summary>
    /// Closes the whole connection (an HTTP/2 stream's <c>HttpContext.Abort</c> resets only that stream and leaves the
    /// connection, and the peer's other streams, open). True for the first caller only, who reports the refusal.
    /// </summary>
    public bool Refuse(string reason)
    {
        var first = Interlocked.Exchange(ref _refused, 1) == 0;
        connection.Abort(new ConnectionAbortedException(reason));
        return first;
    }
}
