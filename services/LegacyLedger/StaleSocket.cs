using System.Net.Sockets;

namespace MtlsAspire.LegacyLedger;

/// <summary>
/// Kestrel refuses to listen on a Unix socket whose file exists. A socket left by a previous run of this container (an
/// OOM kill, a SIGKILL; the pod's emptyDir outlives the container) would make it fail at every restart: remove it when
/// nothing answers on it. One that answers belongs to a running ledger and is left alone (Kestrel then says so).
/// </summary>
internal static class StaleSocket
{
    public static void RemoveIfDead(string? urls)
    {
        const string prefix = "http://unix:";
        if (urls is null || !urls.StartsWith(prefix, StringComparison.Ordinal) || urls[prefix.Length..] is not { Length: > 0 } path || !File.Exists(path))
        {
            return;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException)
        {
            File.Delete(path);
        }
    }
}
