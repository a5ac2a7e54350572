using System.Diagnostics;
using System.Globalization;

namespace MtlsAspire.Lifecycle.Bench;

/// <summary>Process ids from /proc: what this benchmark started (directly or through DCP), and whether it still runs.</summary>
internal static class Processes
{
    /// <summary>Every live process below <paramref name="ancestor"/>.</summary>
    public static IReadOnlyList<int> Under(int ancestor)
    {
        var byParent = Snapshot().ToLookup(p => p.Parent, p => p.Pid);
        var found = new List<int>();
        var pending = new Stack<int>([ancestor]);
        while (pending.TryPop(out var pid))
        {
            foreach (var child in byParent[pid])
            {
                found.Add(child);
                pending.Push(child);
            }
        }

        return found;
    }

    /// <summary>
    /// What this process started, directly or through DCP: its descendants, and DCP, which detaches from the AppHost and
    /// watches it (<c>--monitor PID</c>), with everything below it.
    /// </summary>
    public static IReadOnlyList<int> Started()
    {
        var self = Environment.ProcessId;
        var monitors = Snapshot().Select(p => p.Pid)
            .Where(pid => pid != self && CommandLine(pid).Contains($"--monitor {self}", StringComparison.Ordinal));
        return [.. Under(self).Concat(monitors.SelectMany(pid => Under(pid).Prepend(pid))).Distinct()];
    }

    /// <summary>
    /// Waits (at most 20 s) until none of <paramref name="watched"/> is alive; names and kills those that are, and returns
    /// how many that was.
    /// </summary>
    public static async Task<int> EnsureGoneAsync(IReadOnlyCollection<int> watched)
    {
        var deadline = Stopwatch.StartNew();
        List<int> left;
        while ((left = [.. watched.Where(Alive)]).Count > 0 && deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(250, CancellationToken.None);
        }

        Console.WriteLine($"processes started by this run still alive: {left.Count} (of {watched.Count} seen)");
        foreach (var pid in left)
        {
            Console.WriteLine($"  killing {pid}: {CommandLine(pid)}");
            try
            {
                Process.GetProcessById(pid).Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
            }
        }

        return left.Count;
    }

    /// <summary>True while <paramref name="pid"/> exists and is not a zombie.</summary>
    public static bool Alive(int pid) => Snapshot().Any(p => p.Pid == pid && p.State != 'Z');

    /// <summary>The command line of <paramref name="pid"/> (empty once it is gone).</summary>
    public static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return string.Empty;
        }
    }

    private static List<(int Pid, int Parent, char State)> Snapshot()
    {
        var list = new List<(int, int, char)>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                // "pid (comm) S ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
                var stat = File.ReadAllText(Path.Combine(directory, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                list.Add((pid, int.Parse(fields[1], CultureInfo.InvariantCulture), fields[0][0]));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }

        return list;
    }
}
