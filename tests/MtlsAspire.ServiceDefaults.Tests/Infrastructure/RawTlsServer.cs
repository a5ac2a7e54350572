using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>
/// A TLS server on 127.0.0.1 port 0 presenting exactly the certificate a test chose (and its intermediates), for
/// judging what the mTLS client does with it. It only handshakes: a client that accepts it gets no HTTP answer.
/// </summary>
public sealed class RawTlsServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public RawTlsServer(X509Certificate2 certificate, IEnumerable<X509Certificate2> intermediates)
    {
        var context = SslStreamCertificateContext.Create(certificate, [.. intermediates], offline: true);
        _listener.Start();
        _accepting = AcceptAsync(context);
    }

    /// <summary>The server's address, as https://localhost:{port}.</summary>
    public Uri Https => new($"https://localhost:{((IPEndPoint)_listener.LocalEndpoint).Port}");

    private async Task AcceptAsync(SslStreamCertificateContext context)
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using (client)
                using (var tls = new SslStream(client.GetStream()))
                {
                    try
                    {
                        await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                        {
                            ServerCertificateContext = context,
                            EnabledSslProtocols = SslProtocols.Tls13 | SslProtocols.Tls12,
                        }, _stop.Token);
                    }
                    catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
                    {
                        // The client refused us: that is what the tests look for, on the client's side.
                    }
                }
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
