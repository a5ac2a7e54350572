using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.Intruder;

/// <summary>
/// The HttpClient of one intruder attempt: it presents <c>presented</c> (or no certificate), judges the server with
/// <c>verifyServer</c>, and makes exactly one TLS handshake, so each refusal shows once in the target's log, metrics and
/// the dashboard. SocketsHttpHandler would otherwise open up to three more connections for a request without a body when
/// a new connection is closed before any answer, which is how a TLS 1.3 server refuses a client certificate (it judges
/// it after the client's side of the handshake is done): four refusals per attempt.
/// </summary>
public static class AttemptClient
{
    /// <summary>What a second connection attempt of the same request fails with (the retry is not made).</summary>
    public const string NotRetried = "the server closed the connection after the handshake without an answer (TLS 1.3 refuses a client certificate that way); not retried";

    /// <summary>A client for one attempt; dispose it after the attempt.</summary>
    public static HttpClient Create(ServiceCredentials? presented, RemoteCertificateValidationCallback verifyServer)
    {
        ArgumentNullException.ThrowIfNull(verifyServer);
        var connections = 0;
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.Zero,
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                ClientCertificateContext = presented is null ? null : SslStreamCertificateContext.Create(presented.Leaf, presented.Intermediates, offline: true),
                RemoteCertificateValidationCallback = verifyServer,
            },
            ConnectCallback = async (context, cancellationToken) =>
            {
                if (Interlocked.Increment(ref connections) > 1)
                {
                    throw new IOException(NotRetried);
                }

                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler);
    }
}
