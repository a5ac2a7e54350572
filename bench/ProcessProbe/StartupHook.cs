using System.Globalization;
using System.Net.Sockets;
using System.Text;

/// <summary>
/// The startup hook the runtime calls before <c>Main</c> when this assembly is named in <c>DOTNET_STARTUP_HOOKS</c>
/// (the runtime looks for a type of this name, in no namespace). With <c>MTLS_BENCH_PROBE</c> set to a path, it listens
/// on a Unix socket there and answers every connection with one line, <c>allocated=BYTES</c>
/// (<see cref="GC.GetTotalAllocatedBytes(bool)"/>, precise), then closes it. Without the variable it does nothing.
/// </summary>
#pragma warning disable CA1050 // The runtime requires the hook type in the global namespace.
internal static class StartupHook
#pragma warning restore CA1050
{
    /// <summary>The environment variable naming the socket's path.</summary>
    public const string SocketVariable = "MTLS_BENCH_PROBE";

    /// <summary>Called by the runtime before the application's entry point.</summary>
    public static void Initialize()
    {
        var path = Environment.GetEnvironmentVariable(SocketVariable);
        if (string.IsNullOrEmpty(path))
        {
            return;
        }

        // Not inherited by anything the process starts: the probe is for this process alone.
        Environment.SetEnvironmentVariable(SocketVariable, null);
        File.Delete(path);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(4);
        // A plain blocking thread, not the thread pool: the probe must not change what the pool does under load, and
        // between the two reads of a measured window it sleeps in accept().
        var thread = new Thread(() => Serve(listener)) { IsBackground = true, Name = "bench probe" };
        thread.Start();
    }

    private static void Serve(Socket listener)
    {
        while (true)
        {
            using var client = listener.Accept();
            var line = string.Create(CultureInfo.InvariantCulture, $"allocated={GC.GetTotalAllocatedBytes(precise: true)}\n");
            client.Send(Encoding.ASCII.GetBytes(line));
            client.Shutdown(SocketShutdown.Both);
        }
    }
}
