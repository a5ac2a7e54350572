using System.Diagnostics;
using System.Globalization;

namespace MtlsAspire.MtlsLoad;

/// <summary>
/// From /proc: a process's CPU time (utime + stime), its context switches, and the whole machine's busy time.
/// </summary>
public static class ProcStat
{
    /// <summary>Clock ticks per second (<c>getconf CLK_TCK</c>; 100 when it cannot be asked).</summary>
    public static int ClockTicks { get; } = ReadClockTicks();

    /// <summary>utime + stime of every thread of <paramref name="pid"/> (fields 14 and 15 of /proc/PID/stat).</summary>
    public static TimeSpan ProcessCpu(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
        var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
        return Ticks(utime + stime);
    }

    /// <summary>
    /// Voluntary and involuntary context switches of every live thread of <paramref name="pid"/>, summed over
    /// /proc/PID/task/*/status (/proc/PID/status alone counts the main thread only). A thread that exits between two
    /// reads takes its switches with it; the servers measured keep their threads under steady load.
    /// </summary>
    public static (long Voluntary, long Involuntary) ContextSwitches(int pid)
    {
        long voluntary = 0, involuntary = 0;
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{pid}/task");
        }
        catch (DirectoryNotFoundException)
        {
            return (0, 0);
        }

        foreach (var task in tasks)
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines(Path.Combine(task, "status"));
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
            {
                continue; // the thread ended while we listed them
            }

            foreach (var line in lines)
            {
                if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal))
                {
                    voluntary += long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim(), CultureInfo.InvariantCulture);
                }
                else if (line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                {
                    involuntary += long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim(), CultureInfo.InvariantCulture);
                }
            }
        }

        return (voluntary, involuntary);
    }

    /// <summary>Busy (non-idle, non-iowait) CPU time of the whole machine, all cores, from the first line of /proc/stat.</summary>
    public static TimeSpan MachineBusy()
    {
        using var reader = new StreamReader("/proc/stat");
        var fields = reader.ReadLine()!.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // cpu user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
        long busy = 0;
        for (var i = 1; i <= 8 && i < fields.Length; i++)
        {
            if (i is 4 or 5)
            {
                continue;
            }

            busy += long.Parse(fields[i], CultureInfo.InvariantCulture);
        }

        return Ticks(busy);
    }

    private static TimeSpan Ticks(long ticks) => TimeSpan.FromSeconds((double)ticks / ClockTicks);

    private static int ReadClockTicks()
    {
        try
        {
            using var getconf = Process.Start(new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true, UseShellExecute = false });
            if (getconf is not null)
            {
                var output = getconf.StandardOutput.ReadToEnd().Trim();
                getconf.WaitForExit();
                if (int.TryParse(output, NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) && ticks > 0)
                {
                    return ticks;
                }
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
        }

        return 100;
    }
}
