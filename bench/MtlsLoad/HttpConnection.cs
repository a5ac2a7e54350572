using System.Buffers.Text;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace MtlsAspire.MtlsLoad;

/// <summary>
/// One HTTP/1.1 client connection over TCP, or TLS over TCP, written by hand so that the generator's own cost per
/// request stays small next to the server's: a pre-built request, one read buffer, and just enough response parsing
/// for Content-Length, chunked and close-delimited bodies (an HTTP/1.0 server such as <c>openssl s_server -WWW</c>).
/// </summary>
internal sealed class HttpConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Stream _stream;
    private byte[] _buffer = new byte[16 * 1024];
    private int _start;
    private int _end;

    private HttpConnection(Socket socket, Stream stream)
    {
        _socket = socket;
        _stream = stream;
    }

    /// <summary>True once the server said the connection ends with this response (or ended it).</summary>
    public bool Closed { get; private set; }

    public static async Task<HttpConnection> OpenAsync(IPEndPoint endpoint, IPAddress? from, SslClientAuthenticationOptions? tls, CancellationToken cancellationToken)
    {
        var socket = NewSocket(endpoint, from);
        Stream? stream = null;
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (tls is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsClientAsync(tls, cancellationToken).ConfigureAwait(false);
            }

            return new HttpConnection(socket, stream);
        }
        catch
        {
            if (stream is not null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }

            throw;
        }
    }

    /// <summary>A TCP socket for <paramref name="endpoint"/>, bound to the source address <paramref name="from"/> if given.</summary>
    public static Socket NewSocket(IPEndPoint endpoint, IPAddress? from)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (from is not null)
        {
            try
            {
                socket.Bind(new IPEndPoint(from, 0));
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        return socket;
    }

    /// <summary>Sends <paramref name="request"/> and reads the whole response; returns its status code.</summary>
    public async Task<int> SendAsync(ReadOnlyMemory<byte> request, CancellationToken cancellationToken)
    {
        await _stream.WriteAsync(request, cancellationToken).ConfigureAwait(false);
        await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);

        int headerEnd;
        while ((headerEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0)
        {
            await FillAsync(cancellationToken).ConfigureAwait(false);
        }

        var head = _buffer.AsSpan(_start, headerEnd);
        var (status, contentLength, chunked, close) = ParseHead(head);
        _start += headerEnd + 4;
        Closed = close;
        if (chunked)
        {
            await ReadChunkedAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (contentLength >= 0)
        {
            await SkipAsync(contentLength, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // No length: the body ends with the connection (HTTP/1.0).
            while (await TryFillAsync(cancellationToken).ConfigureAwait(false))
            {
                _start = _end;
            }

            _start = _end = 0;
            Closed = true;
        }

        return status;
    }

    private static (int Status, long ContentLength, bool Chunked, bool Close) ParseHead(ReadOnlySpan<byte> head)
    {
        var lineEnd = head.IndexOf("\r\n"u8);
        var statusLine = lineEnd < 0 ? head : head[..lineEnd];
        // "HTTP/1.1 200 OK"
        if (statusLine.Length < 12 || !statusLine.StartsWith("HTTP/1."u8) || !Utf8Parser.TryParse(statusLine.Slice(9, 3), out int status, out _))
        {
            throw new IOException($"not an HTTP/1.x response: '{Encoding.ASCII.GetString(statusLine[..Math.Min(statusLine.Length, 80)])}'");
        }

        var close = statusLine[7] == (byte)'0';
        long contentLength = -1;
        var chunked = false;
        var rest = lineEnd < 0 ? [] : head[(lineEnd + 2)..];
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf("\r\n"u8);
            var line = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[(end + 2)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                continue;
            }

            var name = line[..colon];
            var value = line[(colon + 1)..].Trim((byte)' ');
            if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
            {
                if (!Utf8Parser.TryParse(value, out contentLength, out _))
                {
                    throw new IOException("unreadable Content-Length");
                }
            }
            else if (Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8))
            {
                chunked = value.IndexOf("chunked"u8) >= 0;
            }
            else if (Ascii.EqualsIgnoreCase(name, "Connection"u8))
            {
                close = Ascii.EqualsIgnoreCase(value, "close"u8) || (close && !Ascii.EqualsIgnoreCase(value, "keep-alive"u8));
            }
        }

        return (status, contentLength, chunked, close);
    }

    private async Task ReadChunkedAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            int lineEnd;
            while ((lineEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8)) < 0)
            {
                await FillAsync(cancellationToken).ConfigureAwait(false);
            }

            var sizeText = _buffer.AsSpan(_start, lineEnd);
            var semicolon = sizeText.IndexOf((byte)';');
            if (!Utf8Parser.TryParse(semicolon < 0 ? sizeText : sizeText[..semicolon], out long size, out _, 'x'))
            {
                throw new IOException("unreadable chunk size");
            }

            _start += lineEnd + 2;
            if (size == 0)
            {
                // No trailers expected: the final CRLF.
                await SkipAsync(2, cancellationToken).ConfigureAwait(false);
                return;
            }

            await SkipAsync(size + 2, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task SkipAsync(long count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            if (_start == _end)
            {
                await FillAsync(cancellationToken).ConfigureAwait(false);
            }

            var take = (int)Math.Min(count, _end - _start);
            _start += take;
            count -= take;
        }
    }

    private async Task FillAsync(CancellationToken cancellationToken)
    {
        if (!await TryFillAsync(cancellationToken).ConfigureAwait(false))
        {
            Closed = true;
            throw new IOException("the server closed the connection before the response ended");
        }
    }

    private async Task<bool> TryFillAsync(CancellationToken cancellationToken)
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_end == _buffer.Length)
        {
            if (_start == 0)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }
            else
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
        }

        var read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
        _end += read;
        return read > 0;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            // A clean close: TLS close_notify first, then FIN, so the server does not count a reset.
            if (_stream is SslStream ssl && !Closed)
            {
                await ssl.ShutdownAsync().ConfigureAwait(false);
            }

            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
        }

        await _stream.DisposeAsync().ConfigureAwait(false);
    }
}
