using MtlsAspire.MtlsLoad;

namespace MtlsAspire.Lifecycle.Bench;

/// <summary>
/// The processes of a running <see cref="BenchApp"/>, grouped by what they are: each service (its <c>dotnet run</c> and the
/// app below it), DCP (its API server, controllers with the endpoint proxies, process monitors), the dashboard, and this
/// process (the load client and the in-process AppHost). CPU time is their utime + stime from /proc.
/// </summary>
internal sealed class ProcessGroups
{
    public const string Dcp = "dcp";
    public const string Dashboard = "dashboard";
    public const string Bench = "bench";
    public const string Other = "other";

    private readonly IReadOnlyDictionary<string, IReadOnlyList<int>> _groups;

    private ProcessGroups(IReadOnlyDictionary<string, IReadOnlyList<int>> groups) => _groups = groups;

    /// <summary>Group name → process ids.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<int>> Groups => _groups;

    /// <summary>Every process id in a group but this process's own.</summary>
    public IEnumerable<int> Started => _groups.Where(g => g.Key != Bench).SelectMany(g => g.Value);

    public static ProcessGroups Of(BenchApp app)
    {
        var groups = new Dictionary<string, List<int>>(StringComparer.Ordinal) { [Bench] = [Environment.ProcessId] };
        var services = app.ServiceProcessesByResource();
        foreach (var (resource, pids) in services)
        {
            groups[resource] = [.. pids];
        }

        var known = services.Values.SelectMany(p => p).ToHashSet();
        foreach (var pid in Processes.Started().Where(p => !known.Contains(p)))
        {
            var command = Processes.CommandLine(pid);
            var group = command.Contains("Aspire.Dashboard", StringComparison.Ordinal) ? Dashboard
                : command.Contains("dcp", StringComparison.Ordinal) ? Dcp
                : Other;
            (groups.TryGetValue(group, out var list) ? list : groups[group] = []).Add(pid);
        }

        return new ProcessGroups(groups.ToDictionary(g => g.Key, g => (IReadOnlyList<int>)g.Value, StringComparer.Ordinal));
    }

    /// <summary>CPU time used so far, per group, and the whole machine's busy time (all cores) under <c>"machine"</c>.</summary>
    public Dictionary<string, TimeSpan> Sample()
    {
        var sample = _groups.ToDictionary(g => g.Key, g => g.Value.Aggregate(TimeSpan.Zero, (sum, pid) => sum + Cpu(pid)), StringComparer.Ordinal);
        sample["machine"] = ProcStat.MachineBusy();
        return sample;
    }

    /// <summary>An environment variable of a resource's <c>dotnet run</c> process (DCP sets it there; the service inherits it).</summary>
    public string? EnvironmentOf(string resource, string variable)
    {
        if (!_groups.TryGetValue(resource, out var pids) || pids.Count == 0)
        {
            return null;
        }

        try
        {
            return File.ReadAllText($"/proc/{pids[0]}/environ").Split('\0')
                .FirstOrDefault(e => e.StartsWith(variable + "=", StringComparison.Ordinal))?[(variable.Length + 1)..];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static TimeSpan Cpu(int pid)
    {
        try
        {
            return ProcStat.ProcessCpu(pid);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return TimeSpan.Zero; // gone
        }
    }
}
