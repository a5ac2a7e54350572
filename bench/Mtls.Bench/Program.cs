using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Runtime.InteropServices;
using MtlsAspire.Verification.Certificates;

namespace MtlsAspire.Mtls.Bench;

/// <summary>
/// mTLS server benchmark. The parent makes temporary PKIs (ECDSA P-256 and RSA-2048), starts the ServiceDefaults
/// mTLS server in a child process (this executable, <c>server</c> mode), drives it with its own load generator and
/// reads the child's CPU time from /proc around every measured row. With <c>server</c> as first argument it is the child.
/// </summary>
internal static class Program
{
    private static readonly string[] s_ecdsaPhases = ["a", "b", "d", "e", "f", "micro"];
    private static readonly string[] s_mainServerPhases = ["a", "b", "e", "f"];
    private static readonly CancellationTokenSource s_interrupted = new();

    /// <summary>Ends the keys of the <c>--compare</c> twin's rows.</summary>
    internal const string TwinSuffix = "+B";

    private static async Task<int> Main(string[] args)
    {
        if (args is ["server", .. var bareArgs] && bareArgs.Contains("--bare"))
        {
            return await BareServerMode.RunAsync(bareArgs).ConfigureAwait(false);
        }

        if (args is ["server", .. var serverArgs])
        {
            return await ServerMode.RunAsync(serverArgs).ConfigureAwait(false);
        }

        BenchOptions options;
        try
        {
            options = BenchOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(BenchOptions.Usage);
            return 2;
        }

        string work;
        if (options.BaseDirectory is null)
        {
            work = Directory.CreateTempSubdirectory("mtls-bench-").FullName;
        }
        else
        {
            work = Path.Combine(Path.GetFullPath(options.BaseDirectory), $"mtls-bench-{Guid.NewGuid():N}");
            Directory.CreateDirectory(work);
        }

        // Ctrl+C or SIGTERM: stop after the current row, so the finally blocks kill the server children and delete the PKIs.
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);
        try
        {
            await RunAsync(options, work).ConfigureAwait(false);
            return s_interrupted.IsCancellationRequested ? 130 : 0;
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(work, recursive: true);
        }
    }

    private static async Task RunAsync(BenchOptions options, string work)
    {
        WriteLine($"mTLS server benchmark (MtlsAspire.ServiceDefaults behind Kestrel, in a child process)");
        WriteLine($"runtime {RuntimeInformation.FrameworkDescription}, {RuntimeInformation.OSDescription}, {Environment.ProcessorCount} logical CPUs " +
            $"(load generator and server share them), server GC {System.Runtime.GCSettings.IsServerGC}, CLK_TCK {ProcStat.ClockTicks}");
        WriteLine($"rows: {options.Duration.TotalSeconds:0.#} s measured after {options.Warmup.TotalSeconds:0.#} s warm-up, {options.Rounds} round(s); workers {string.Join(",", options.Workers)}; " +
            $"phases {string.Join(",", BenchOptions.AllPhases.Where(options.Runs))}");
        WriteLine($"work directory {work}");
        int? serverCpu = null;
        if (options.Pin && Environment.ProcessorCount >= 2 && ServerProcess.Taskset is not null && PinSelf(1))
        {
            serverCpu = 0;
            WriteLine("pinned: server child on CPU 0 (taskset -c 0: its runtime sees 1 CPU), this load generator (every thread) on CPU 1");
        }
        else
        {
            WriteLine("not pinned: server child and load generator share every CPU");
        }

        WriteLine("");

        var results = new List<RowResult>();
        IReadOnlyList<MicroResult> micro = [];

        var needsEcdsa = s_ecdsaPhases.Any(options.Runs);
        using var ecdsa = needsEcdsa ? BenchPki.Create(KeyType.EcdsaP256, work) : null;
        using var rsa = options.Runs("c") ? BenchPki.Create(KeyType.Rsa2048, work) : null;
        foreach (var pki in new[] { ecdsa, rsa }.OfType<BenchPki>())
        {
            WriteLine($"PKI {pki.KeyType.ToName()}: root, intermediate, server leaf '{BenchPki.ServerService}', client leaf '{BenchPki.ClientService}' " +
                $"in {pki.Elapsed.TotalMilliseconds:F0} ms");
        }

        var groups = new List<ServerGroup>();
        try
        {
            if (ecdsa is not null && s_mainServerPhases.Any(options.Runs))
            {
                groups.Add(ServerGroup.Start(ecdsa, work, new Dictionary<string, string>(), serverCpu, "ECDSA P-256, validation cache on (default 1024)",
                    server => MainRows(options, server, twin: false)));
                if (options.Compare.Count > 0)
                {
                    groups.Add(ServerGroup.Start(ecdsa, work, options.Compare, serverCpu,
                        $"twin B of the ECDSA server with {string.Join(" ", options.Compare.Select(e => $"{e.Key}={e.Value}"))}", server => MainRows(options, server, twin: true)));
                }
            }

            if (ecdsa is not null && options.Runs("d"))
            {
                groups.Add(ServerGroup.Start(ecdsa, work, new Dictionary<string, string> { ["Mtls__ValidationCacheSize"] = "0" }, serverCpu, "ECDSA P-256, validation cache OFF",
                    server => server.CacheSize == 0
                        ? [new RowSpec("d", "d", "new conn, mTLS ECDSA, 127.0.0.1, /api/ping, validation cache OFF", new Uri($"https://127.0.0.1:{server.HttpsPort}{ServerMode.PingPath}"),
                            ConnectionMode.NewConnection, HttpStatusCode.OK, Mtls: true)]
                        : throw new InvalidOperationException($"The server reports validation cache size {server.CacheSize}, expected 0.")));
            }

            if (rsa is not null)
            {
                groups.Add(ServerGroup.Start(rsa, work, new Dictionary<string, string>(), serverCpu, "RSA-2048, validation cache on", server =>
                    [new RowSpec("c", "c", "new conn, mTLS RSA-2048, 127.0.0.1 (full handshake), /api/ping", new Uri($"https://127.0.0.1:{server.HttpsPort}{ServerMode.PingPath}"),
                        ConnectionMode.NewConnection, HttpStatusCode.OK, Mtls: true)]));
            }

            foreach (var group in groups)
            {
                WriteLine($"-- server child pid {group.Server.Pid}: {group.Description}; mTLS port {group.Server.HttpsPort}, plain port {group.Server.HttpPort}");
                await group.WarmUpAsync(options.ServerWarmup, options.Workers.Max()).ConfigureAwait(false);
            }

            // New-connection rows first (a, d, b, c: the cache before/after pair side by side), then keep-alive rows; every
            // round runs them all again, so drift on this shared machine spreads over every row alike.
            var order = new[] { "a", "d", "b", "c", "e-mtls", "f-authz", "e-plain", "e-mtls-404", "e-plain-404" };
            var plan = groups.SelectMany(g => g.Specs.Select(spec => (Group: g, Spec: spec)))
                .OrderBy(x => Array.IndexOf(order, x.Spec.Key.Replace(TwinSuffix, string.Empty, StringComparison.Ordinal)))
                .ThenBy(x => x.Spec.Key.EndsWith(TwinSuffix, StringComparison.Ordinal)).ToList();
            WriteLine("");
            WriteLine(Report.Header);
            for (var round = 1; round <= options.Rounds; round++)
            {
                foreach (var workers in options.Workers)
                {
                    foreach (var (group, spec) in plan)
                    {
                        if (s_interrupted.IsCancellationRequested)
                        {
                            WriteLine("interrupted: stopping the server children");
                            return;
                        }

                        var result = await group.Generator.RunAsync(spec, workers, group.Server, options.Warmup, options.Duration).ConfigureAwait(false);
                        results.Add(result with { Round = round });
                        WriteLine(Report.Row(result));
                        if (result.Errors > 0)
                        {
                            WriteLine($"   {result.Errors} errors, first: {result.FirstError}");
                        }
                    }
                }
            }
        }
        finally
        {
            foreach (var group in groups)
            {
                group.Dispose();
            }
        }

        if (ecdsa is not null && options.Runs("micro"))
        {
            micro = await IdentityMicro.RunAsync(ecdsa, options.MicroIterations).ConfigureAwait(false);
        }

        Report.Print(results, micro);
    }

    /// <summary>
    /// The rows of the main ECDSA server. For the <c>--compare</c> twin (the same server with other environment variables)
    /// the keys end in <see cref="TwinSuffix"/> and the labels start with "[B]", so each row runs right after its A.
    /// </summary>
    private static List<RowSpec> MainRows(BenchOptions options, ServerProcess server, bool twin)
    {
        var suffix = twin ? TwinSuffix : string.Empty;
        var tag = twin ? "[B] " : string.Empty;
        RowSpec Row(string key, string phase, string label, Uri target, ConnectionMode mode, HttpStatusCode expected, bool mtls) =>
            new(key + suffix, phase, tag + label, target, mode, expected, mtls);

        var ip = $"https://127.0.0.1:{server.HttpsPort}";
        var host = $"https://localhost:{server.HttpsPort}";
        var plain = $"http://127.0.0.1:{server.HttpPort}";
        var rows = new List<RowSpec>();
        if (options.Runs("a"))
        {
            rows.Add(Row("a", "a", "new conn, mTLS ECDSA, 127.0.0.1 (full handshake), /api/ping", new Uri(ip + ServerMode.PingPath),
                ConnectionMode.NewConnection, HttpStatusCode.OK, mtls: true));
        }

        if (options.Runs("b"))
        {
            rows.Add(Row("b", "b", "new conn, mTLS ECDSA, localhost (TLS 1.3 resumption possible), /api/ping", new Uri(host + ServerMode.PingPath),
                ConnectionMode.NewConnection, HttpStatusCode.OK, mtls: true));
        }

        if (options.Runs("e") || options.Runs("f"))
        {
            rows.Add(Row("e-mtls", "e,f", "keep-alive, mTLS, /api/ping-open (no authorization)", new Uri(ip + ServerMode.PingOpenPath),
                ConnectionMode.KeepAlive, HttpStatusCode.OK, mtls: true));
        }

        if (options.Runs("f"))
        {
            rows.Add(Row("f-authz", "f", "keep-alive, mTLS, /api/ping (RequireCaller(\"order\"))", new Uri(ip + ServerMode.PingPath),
                ConnectionMode.KeepAlive, HttpStatusCode.OK, mtls: true));
        }

        if (options.Runs("e"))
        {
            rows.Add(Row("e-plain", "e", "keep-alive, plain HTTP, /alive (health check 'self')", new Uri(plain + "/alive"),
                ConnectionMode.KeepAlive, HttpStatusCode.OK, mtls: false));
            rows.Add(Row("e-mtls-404", "e ctl", "keep-alive, mTLS, /alive -> 404 as an unknown path (routing, authentication)", new Uri(ip + "/alive"),
                ConnectionMode.KeepAlive, HttpStatusCode.NotFound, mtls: true));
            rows.Add(Row("e-plain-404", "e ctl", "keep-alive, plain HTTP, /api/ping-open -> 404 from the management port refusal", new Uri(plain + ServerMode.PingOpenPath),
                ConnectionMode.KeepAlive, HttpStatusCode.NotFound, mtls: false));
        }

        return rows;
    }

    private static void Interrupt(PosixSignalContext context)
    {
        context.Cancel = true;
        s_interrupted.Cancel();
    }

    /// <summary>
    /// Pins every thread of this process to <paramref name="cpu"/> (<c>taskset -a -p</c>: sched_setaffinity applies per
    /// thread, and threads created later inherit it from their creator).
    /// </summary>
    private static bool PinSelf(int cpu)
    {
        var start = new System.Diagnostics.ProcessStartInfo(ServerProcess.Taskset!) { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var argument in new[] { "-a", "-p", "-c", cpu.ToString(CultureInfo.InvariantCulture), Environment.ProcessId.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }

        using var taskset = System.Diagnostics.Process.Start(start);
        if (taskset is null)
        {
            return false;
        }

        taskset.StandardOutput.ReadToEnd();
        taskset.WaitForExit();
        return taskset.ExitCode == 0;
    }

    internal static void WriteLine(FormattableString text) => Console.WriteLine(text.ToString(CultureInfo.InvariantCulture));

    internal static void WriteLine(string text) => Console.WriteLine(text);
}
