using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
using MtlsAspire.Verification.Revocation;

namespace MtlsAspire.Lifecycle.Bench;

/// <summary>
/// One TCP + TLS 1.3 connection presenting a fixed client chain, with HTTP/1.1 written by hand: no pool, no retry, no
/// reconnect, so the first request the server refuses is seen as such. The server is validated for real: its chain to
/// <c>roots</c> with serverAuth, and its SPIFFE ID.
/// </summary>
internal sealed class RawMtlsConnection : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly SslStream _tls;
    private readonly string _host;
    private readonly byte[] _buffer = new byte[16 * 1024];
    private int _start;
    private int _end;

    private RawMtlsConnection(TcpClient tcp, SslStream tls, string host)
    {
        _tcp = tcp;
        _tls = tls;
        _host = host;
    }

    public static async Task<RawMtlsConnection> OpenAsync(Uri endpoint, SslStreamCertificateContext client, X509Certificate2Collection roots, SpiffeId server,
        CancellationToken cancellationToken)
    {
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(endpoint.Host, endpoint.Port, cancellationToken);
            var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = endpoint.Host,
                EnabledSslProtocols = SslProtocols.Tls13,
                ClientCertificateContext = client,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                    certificate is X509Certificate2 leaf
                    && ChainCheck.Verify(leaf, chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>() ?? [], roots, RevocationSet.Empty, DateTimeOffset.UtcNow,
                        CertificateFacts.ServerAuthOid).IsValid
                    && leaf.GetSpiffeId(out _) == server,
            }, cancellationToken);
            return new RawMtlsConnection(tcp, tls, $"{endpoint.Host}:{endpoint.Port.ToString(CultureInfo.InvariantCulture)}");
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>Sends <c>GET path</c> and reads the whole response; returns its status. Throws when the server ends the connection instead.</summary>
    public async Task<int> GetAsync(string path, CancellationToken cancellationToken)
    {
        await _tls.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {_host}\r\n\r\n"), cancellationToken);
        await _tls.FlushAsync(cancellationToken);
        var head = await ReadLineBlockAsync(cancellationToken);
        var lines = head.Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], CultureInfo.InvariantCulture);
        var length = lines.Select(l => l.Split(':', 2)).Where(p => p.Length == 2 && p[0].Trim().Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            .Select(p => int.Parse(p[1].Trim(), CultureInfo.InvariantCulture)).FirstOrDefault();
        if (lines.Any(l => l.StartsWith("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase) && l.Contains("chunked", StringComparison.OrdinalIgnoreCase)))
        {
            while (true)
            {
                var size = Convert.ToInt32((await ReadLineAsync(cancellationToken)).Split(';')[0].Trim(), 16);
                await SkipAsync(size + 2, cancellationToken);
                if (size == 0)
                {
                    break;
                }
            }
        }
        else
        {
            await SkipAsync(length, cancellationToken);
        }

        return status;
    }

    private async Task<string> ReadLineBlockAsync(CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        while (true)
        {
            var line = await ReadLineAsync(cancellationToken);
            if (line.Length == 0)
            {
                return text.ToString();
            }

            text.Append(line).Append("\r\n");
        }
    }

    private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        var line = new StringBuilder();
        while (true)
        {
            await FillAsync(cancellationToken);
            var c = (char)_buffer[_start++];
            if (c == '\n')
            {
                return line.ToString().TrimEnd('\r');
            }

            line.Append(c);
        }
    }

    private async Task SkipAsync(int count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            await FillAsync(cancellationToken);
            var take = Math.Min(count, _end - _start);
            _start += take;
            count -= take;
        }
    }

    private async Task FillAsync(CancellationToken cancellationToken)
    {
        if (_start < _end)
        {
            return;
        }

        _start = 0;
        _end = await _tls.ReadAsync(_buffer, cancellationToken);
        if (_end == 0)
        {
            throw new IOException("the server closed the connection");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _tls.DisposeAsync();
        _tcp.Dispose();
    }
}
