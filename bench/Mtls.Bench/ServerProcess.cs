using System.Diagnostics;
using System.Globalization;
using System.Reflection;

namespace MtlsAspire.Mtls.Bench;

/// <summary>
/// The server child process, seen from the parent: started with <c>server --credentials … --port-file …</c>, its ports
/// read from the port file, its CPU time read from /proc, and killed by its process id on dispose.
/// </summary>
internal sealed class ServerProcess : IDisposable
{
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;

    private ServerProcess(Process process, int httpsPort, int httpPort, int cacheSize)
    {
        _process = process;
        HttpsPort = httpsPort;
        HttpPort = httpPort;
        CacheSize = cacheSize;
    }

    /// <summary>The path of taskset(1), if installed.</summary>
    public static string? Taskset { get; } = new[] { "/usr/bin/taskset", "/bin/taskset" }.FirstOrDefault(File.Exists);

    public int Pid => _process.Id;

    public int HttpsPort { get; }

    public int HttpPort { get; }

    /// <summary>The validation cache size the server reports it runs with (0: off).</summary>
    public int CacheSize { get; }

    /// <summary>The child's user + system CPU time so far.</summary>
    public TimeSpan Cpu => ProcStat.ProcessCpu(_process.Id);

    /// <summary>Starts the child; with <paramref name="cpu"/>, under <c>taskset -c cpu</c> (which execs it: same pid), so its runtime sees one CPU.</summary>
    public static ServerProcess Start(string credentialsDirectory, string work, IReadOnlyDictionary<string, string> environment, int? cpu)
    {
        var portFile = Path.Combine(work, $"ports-{Guid.NewGuid():N}.txt");
        var start = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
        };
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot find this process's executable.");
        if (cpu is { } core)
        {
            start.FileName = Taskset!;
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(core.ToString(CultureInfo.InvariantCulture));
            start.ArgumentList.Add(self);
        }
        else
        {
            start.FileName = self;
        }

        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.Ordinal))
        {
            start.ArgumentList.Add(Assembly.GetExecutingAssembly().Location);
        }

        foreach (var argument in new[] { "server", "--credentials", credentialsDirectory, "--port-file", portFile })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["ASPNETCORE_URLS"] = "https://127.0.0.1:0;http://127.0.0.1:0";
        start.Environment.Remove("OTEL_EXPORTER_OTLP_ENDPOINT"); // no OTLP export: telemetry is collected in-process only
        start.Environment.Remove("ASPNETCORE_ENVIRONMENT");
        start.Environment.Remove("DOTNET_ENVIRONMENT");
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("The server child did not start.");
        try
        {
            var deadline = Stopwatch.StartNew();
            while (!File.Exists(portFile))
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"The server child exited with code {process.ExitCode} before reporting its ports.");
                }

                if (deadline.Elapsed > s_startTimeout)
                {
                    throw new TimeoutException($"The server child did not report its ports within {s_startTimeout.TotalSeconds} s.");
                }

                Thread.Sleep(20);
            }

            var values = File.ReadAllLines(portFile)
                .Select(line => line.Split('=', 2))
                .ToDictionary(parts => parts[0], parts => int.Parse(parts[1], CultureInfo.InvariantCulture), StringComparer.Ordinal);
            File.Delete(portFile);
            if (values["pid"] != process.Id)
            {
                throw new InvalidOperationException($"The port file names pid {values["pid"]}, but the child started is {process.Id}.");
            }

            return new ServerProcess(process, values["https"], values["http"], values["cache"]);
        }
        catch
        {
            Stop(process);
            throw;
        }
    }

    public void Dispose() => Stop(_process);

    private static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill();
            }

            process.WaitForExit();
        }
        finally
        {
            process.Dispose();
        }
    }
}
