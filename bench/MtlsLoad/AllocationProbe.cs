using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace MtlsAspire.MtlsLoad;

/// <summary>
/// Reads the bytes a .NET process under test has allocated so far from the Unix socket of bench/ProcessProbe, the
/// startup hook it was started with (<c>DOTNET_STARTUP_HOOKS</c>, <c>MTLS_BENCH_PROBE</c>=the socket's path).
/// </summary>
public static class AllocationProbe
{
    /// <summary>The process's <c>GC.GetTotalAllocatedBytes(precise: true)</c> at the time of the call.</summary>
    public static long Read(string socketPath)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.ReceiveTimeout = 5_000;
        socket.Connect(new UnixDomainSocketEndPoint(socketPath));
        var buffer = new byte[64];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = socket.Receive(buffer, length, buffer.Length - length, SocketFlags.None)) > 0)
        {
            length += read;
        }

        var line = Encoding.ASCII.GetString(buffer, 0, length).Trim();
        const string Prefix = "allocated=";
        return line.StartsWith(Prefix, StringComparison.Ordinal)
            && long.TryParse(line.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var bytes)
            ? bytes
            : throw new IOException($"The probe at {socketPath} answered '{line}', expected allocated=BYTES.");
    }
}
