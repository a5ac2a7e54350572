using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MtlsAspire.CertBootstrap.Doctor;

/// <summary>An HTTP/1.1 answer as far as <c>doctor</c> needs it: status, headers, a bounded body.</summary>
/// <param name="Status">The status code.</param>
/// <param name="ReasonPhrase">The status line's reason phrase.</param>
/// <param name="Headers">The headers (names case-insensitive; a repeated header keeps its last value).</param>
/// <param name="Body">The body as text (de-chunked, at most <see cref="HttpProbe.MaxResponseBytes"/>).</param>
internal sealed record HttpAnswer(int Status, string ReasonPhrase, IReadOnlyDictionary<string, string> Headers, string Body)
{
    /// <summary>The server's clock from its Date header, when it sent a readable one.</summary>
    public DateTimeOffset? Date =>
        Headers.TryGetValue("Date", out var value) &&
        DateTimeOffset.TryParseExact(value, "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date)
            ? date
            : null;

    /// <summary>Why the server says no, in one line: a problem-details detail/title, else the body's start, else WWW-Authenticate.</summary>
    public string? Reason()
    {
        var text = ProblemDetail() ?? Body.ReplaceLineEndings(" ").Trim();
        if (text.Length > 300)
        {
            text = text[..300] + "…";
        }

        if (Headers.TryGetValue("WWW-Authenticate", out var challenge))
        {
            text = text.Length == 0 ? $"WWW-Authenticate: {challenge}" : $"{text} (WWW-Authenticate: {challenge})";
        }

        return text.Length == 0 ? null : text;
    }

    private string? ProblemDetail()
    {
        if (!Body.TrimStart().StartsWith('{'))
        {
            return null;
        }

        try
        {
            using var json = JsonDocument.Parse(Body);
            string? Field(string name) => json.RootElement.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            return Field("detail") ?? Field("title");
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>A minimal HTTP/1.1 GET over an established (TLS) stream, enough to read a status, a Date and a reason.</summary>
internal static class HttpProbe
{
    /// <summary>How much of an answer is read at most.</summary>
    public const int MaxResponseBytes = 64 * 1024;

    /// <summary>
    /// Sends <c>GET {path} HTTP/1.1</c> with <c>Connection: close</c> and reads the answer. Returns null when the server
    /// closed the connection before sending a byte; throws <see cref="InvalidDataException"/> when what came back is
    /// not HTTP, and whatever the stream throws (a TLS alert arrives as an <see cref="IOException"/>).
    /// </summary>
    public static async Task<HttpAnswer?> GetAsync(Stream stream, Uri url, CancellationToken cancellationToken)
    {
        var request = $"GET {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\nUser-Agent: CertBootstrap-doctor\r\nAccept: */*\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);

        var received = new MemoryStream();
        var buffer = new byte[8192];
        while (received.Length < MaxResponseBytes)
        {
            var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            received.Write(buffer, 0, read);
            if (TryParse(received.ToArray(), complete: false) is { } early)
            {
                return early;
            }
        }

        return received.Length == 0 ? null : TryParse(received.ToArray(), complete: true)
            ?? throw new InvalidDataException("the answer is not HTTP/1.1 (no status line and headers)");
    }

    /// <summary>Parses what has arrived; null while the headers (or, unless <paramref name="complete"/>, the body) are not all there.</summary>
    private static HttpAnswer? TryParse(byte[] data, bool complete)
    {
        var text = Encoding.Latin1.GetString(data);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
        {
            if (complete || (!text.StartsWith("HTTP/", StringComparison.Ordinal) && text.Length >= 5))
            {
                throw new InvalidDataException($"the answer is not HTTP/1.1: it starts '{Printable(text)}'");
            }

            return null;
        }

        var lines = text[..end].Split("\r\n");
        var status = lines[0].Split(' ', 3);
        if (status.Length < 2 || !status[0].StartsWith("HTTP/", StringComparison.Ordinal) || !int.TryParse(status[1], CultureInfo.InvariantCulture, out var code))
        {
            throw new InvalidDataException($"the answer is not HTTP/1.1: the status line is '{Printable(lines[0])}'");
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }

        var body = text[(end + 4)..];
        var chunked = headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase);
        if (chunked)
        {
            var (decoded, done) = Dechunk(body);
            return done || complete ? Answer(code, status, headers, decoded) : null;
        }

        if (headers.TryGetValue("Content-Length", out var lengthText) && int.TryParse(lengthText, CultureInfo.InvariantCulture, out var length))
        {
            return body.Length >= length || complete ? Answer(code, status, headers, body[..Math.Min(length, body.Length)]) : null;
        }

        return complete ? Answer(code, status, headers, body) : null;
    }

    private static HttpAnswer Answer(int code, string[] status, Dictionary<string, string> headers, string body) =>
        new(code, status.Length > 2 ? status[2] : string.Empty, headers, Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(body)));

    private static (string Body, bool Done) Dechunk(string chunked)
    {
        var body = new StringBuilder();
        var position = 0;
        while (true)
        {
            var lineEnd = chunked.IndexOf("\r\n", position, StringComparison.Ordinal);
            if (lineEnd < 0 || !int.TryParse(chunked.AsSpan(position, lineEnd - position).TrimEnd(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var size))
            {
                return (body.ToString(), false);
            }

            if (size == 0)
            {
                return (body.ToString(), true);
            }

            var start = lineEnd + 2;
            if (start + size > chunked.Length)
            {
                body.Append(chunked.AsSpan(start));
                return (body.ToString(), false);
            }

            body.Append(chunked.AsSpan(start, size));
            position = start + size + 2;
        }
    }

    private static string Printable(string text)
    {
        var start = new string(text.Take(40).Select(c => char.IsControl(c) ? '.' : c).ToArray());
        return text.Length > 40 ? start + "…" : start;
    }
}
