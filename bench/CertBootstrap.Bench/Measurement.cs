using System.Diagnostics;
using System.Globalization;

namespace MtlsAspire.CertBootstrap.Bench;

/// <summary>Wall time and process CPU time of <see cref="Operations"/> operations.</summary>
internal readonly record struct Measurement(string Name, int Operations, TimeSpan Elapsed, TimeSpan Cpu)
{
    public double PerSecond => Operations / Elapsed.TotalSeconds;

    public double MeanMilliseconds => Elapsed.TotalMilliseconds / Operations;

    public double CpuMillisecondsPerOperation => Cpu.TotalMilliseconds / Operations;

    /// <summary>Runs <paramref name="body"/> for i = 0..operations-1 on this thread and measures it.</summary>
    public static Measurement Run(string name, int operations, Action<int> body, bool collect = true) => Run(name, operations, () =>
    {
        for (var i = 0; i < operations; i++)
        {
            body(i);
        }
    }, collect);

    /// <summary>Measures <paramref name="work"/>, which performs <paramref name="operations"/> operations in any way it likes.</summary>
    /// <param name="collect">Start from a collected heap (off for short back-to-back blocks).</param>
    public static Measurement Run(string name, int operations, Action work, bool collect = true)
    {
        if (collect)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        var cpuBefore = ProcessCpu();
        var stopwatch = Stopwatch.StartNew();
        work();
        stopwatch.Stop();
        var cpu = ProcessCpu() - cpuBefore;
        return new Measurement(name, operations, stopwatch.Elapsed, cpu);
    }

    public static string Header =>
        string.Create(CultureInfo.InvariantCulture, $"{"",-34} {"ops",7} {"ops/s",10} {"ms/op",9} {"cpu ms/op",10}");

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture,
            $"{Name,-34} {Operations,7} {PerSecond,10:F1} {MeanMilliseconds,9:F3} {CpuMillisecondsPerOperation,10:F3}");

    private static TimeSpan ProcessCpu()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }
}
