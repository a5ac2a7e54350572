using System.Globalization;
using System.Runtime.InteropServices;

namespace MtlsAspire.EndToEnd.Tests.Infrastructure;

/// <summary>Processes as /proc shows them: who started whom, and who still runs.</summary>
public static partial class ProcessTree
{
    public const int Sigkill = 9, Sigterm = 15, Sigcont = 18, Sigstop = 19;

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/> (kill(2)); true when it was delivered.</summary>
    public static bool Signal(int pid, int signal) => Kill(pid, signal) == 0;

    /// <summary>Every live process under <paramref name="pid"/> (children, their children, …).</summary>
    public static IReadOnlyList<int> Descendants(int pid)
    {
        var parents = new Dictionary<int, List<int>>();
        foreach (var (child, parent) in All())
        {
            if (!parents.TryGetValue(parent, out var children))
            {
                parents[parent] = children = [];
            }

            children.Add(child);
        }

        var found = new List<int>();
        var queue = new Queue<int>([pid]);
        while (queue.TryDequeue(out var next))
        {
            foreach (var child in parents.GetValueOrDefault(next) ?? [])
            {
                found.Add(child);
                queue.Enqueue(child);
            }
        }

        return found;
    }

    /// <summary>Live processes whose command line contains <paramref name="text"/>.</summary>
    public static IReadOnlyList<int> WithCommandLine(string text) =>
        [.. All().Select(p => p.Pid).Where(pid => TryCommandLine(pid)?.Contains(text, StringComparison.Ordinal) == true)];

    /// <summary>
    /// The DCP processes watching the AppHost <paramref name="appHost"/> (<c>dcp start-apiserver --monitor PID</c>): that
    /// PID exactly, so that another AppHost's DCP (say, <c>--monitor 45210</c> beside <c>--monitor 4521</c>) is never included.
    /// </summary>
    public static IReadOnlyList<int> DcpOf(int appHost)
    {
        var monitored = appHost.ToString(CultureInfo.InvariantCulture);
        return [.. WithCommandLine($"--monitor {monitored}").Where(pid =>
        {
            var args = CommandLine(pid).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var at = Array.IndexOf(args, "--monitor");
            return at >= 0 && at + 1 < args.Length && args[at + 1] == monitored;
        })];
    }

    /// <summary>True while the process exists and is not a zombie.</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            return !Stat(pid).State.Equals("Z", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The command line of a process.</summary>
    public static string CommandLine(int pid) => TryCommandLine(pid) ?? string.Empty;

    private static string? TryCommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// The service's own process: the pid DCP reports, or, for a project it runs as <c>dotnet run --no-build</c> (one the
    /// AppHost found no build output for), that command's child.
    /// </summary>
    public static int ApplicationOf(int pid) =>
        CommandLine(pid).StartsWith("dotnet run", StringComparison.Ordinal) && Descendants(pid) is [var app, ..] ? app : pid;

    private static IEnumerable<(int Pid, int Parent)> All()
    {
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            (string State, int Parent) stat;
            try
            {
                stat = Stat(pid);
            }
            catch (IOException)
            {
                continue;
            }

            yield return (pid, stat.Parent);
        }
    }

    private static (string State, int Parent) Stat(int pid)
    {
        var text = File.ReadAllText($"/proc/{pid}/stat");
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        return (fields[0], int.Parse(fields[1], CultureInfo.InvariantCulture));
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
