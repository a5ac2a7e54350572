using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MtlsAspire.Hosting;

/// <summary>
/// One child process: the resource's already-built assembly run with <c>dotnet</c>, its output relayed with a
/// <c>[name]</c> prefix, stopped by process id (SIGTERM, then kill after a grace period).
/// </summary>
internal sealed partial class ResourceProcess : IAsyncDisposable
{
    private const int TailLines = 30;
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _tail = new();
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ResourceProcess(ProjectResource resource, Process process)
    {
        Resource = resource;
        _process = process;
    }

    public ProjectResource Resource { get; }

    public int ProcessId => _process.Id;

    /// <summary>Completes with the exit code when the process ends.</summary>
    public Task<int> Exited => _exited.Task;

    /// <summary>The last lines the process wrote, for a crash report.</summary>
    public string Tail => string.Join(System.Environment.NewLine, _tail);

    public static ResourceProcess Start(ProjectResource resource, IReadOnlyDictionary<string, string> environment, TextWriter output, Lock outputLock)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = Path.GetDirectoryName(resource.ProjectPath)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(resource.AssemblyPath);
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new ResourceProcess(resource, process);
        process.OutputDataReceived += (_, e) => child.Relay(e.Data, output, outputLock);
        process.ErrorDataReceived += (_, e) => child.Relay(e.Data, output, outputLock);
        process.Exited += (_, _) => child._exited.TrySetResult(process.ExitCode);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    private void Relay(string? line, TextWriter output, Lock outputLock)
    {
        if (line is null)
        {
            return;
        }

        _tail.Enqueue(line);
        while (_tail.Count > TailLines && _tail.TryDequeue(out _))
        {
        }

        lock (outputLock)
        {
            output.WriteLine($"[{Resource.Name}] {line}");
        }
    }

    /// <summary>Asks the process to stop (SIGTERM), and kills it (and any children) if it has not within <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_exited.Task.IsCompleted)
        {
            return;
        }

        if (!OperatingSystem.IsWindows())
        {
            _ = Kill(_process.Id, SigTerm);
        }

        if (await Task.WhenAny(_exited.Task, Task.Delay(grace)) != _exited.Task)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // already gone
            }

            await _exited.Task;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
    }

    private static string DotnetHost() =>
        System.Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
            ? host
            : Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet") is var sibling && File.Exists(sibling)
                ? Path.GetFullPath(sibling)
                : "dotnet";

    private const int SigTerm = 15;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
