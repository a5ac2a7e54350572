using System.Globalization;
using System.Text;
using HdrHistogram;

namespace MtlsAspire.Lifecycle.Bench;

/// <summary>Latency of one kind of order in a phase (HdrHistogram, microseconds, 3 significant digits).</summary>
internal sealed record OrderLatency(long Count, double P50, double P99, double P999, double Max)
{
    private const long HighestMicroseconds = 60_000_000;

    public static OrderLatency Of(IEnumerable<Sample> samples)
    {
        var histogram = new LongHistogram(HighestMicroseconds, 3);
        foreach (var sample in samples)
        {
            histogram.RecordValue(Math.Clamp((long)Math.Round(sample.Milliseconds * 1000), 1, HighestMicroseconds));
        }

        double Ms(double percentile) => histogram.TotalCount == 0 ? double.NaN : histogram.GetValueAtPercentile(percentile) / 1000.0;
        return new OrderLatency(histogram.TotalCount, Ms(50), Ms(99), Ms(99.9), histogram.TotalCount == 0 ? double.NaN : histogram.GetMaxValue() / 1000.0);
    }

    public override string ToString() => Count == 0 ? "—" : string.Create(CultureInfo.InvariantCulture, $"{P50:0.00} / {P99:0.00} / {P999:0.00} / {Max:0.0}");
}

/// <summary>One measured phase of one variant: latency per outcome, rate, and CPU per order of each process group.</summary>
internal sealed record LatencyPhase(string Variant, int Round, string Phase, TimeSpan Duration, int Orders, int Failed, int OutOfStock,
    OrderLatency Charged, OrderLatency Declined, IReadOnlyDictionary<string, TimeSpan> Cpu, IReadOnlyList<string> Errors)
{
    /// <summary>The columns of the CPU table, in the order of the order's path.</summary>
    public static readonly string[] CpuColumns =
        ["order", "inventory", "payment", "legacy-proxy", "legacy-ledger", ProcessGroups.Dcp, ProcessGroups.Dashboard, ProcessGroups.Bench];

    public static LatencyPhase Of(string variant, int round, string phase, long start, long end, IEnumerable<Sample> samples,
        Dictionary<string, TimeSpan> cpuBefore, Dictionary<string, TimeSpan> cpuAfter)
    {
        var mine = samples.Where(s => s.Started >= start && s.Started < end).ToList();
        var cpu = cpuAfter.ToDictionary(c => c.Key, c => c.Value - cpuBefore.GetValueOrDefault(c.Key), StringComparer.Ordinal);
        var errors = mine.Where(s => s.Outcome == Outcome.Failed).GroupBy(s => s.Error ?? "?").OrderByDescending(g => g.Count())
            .Select(g => $"{g.Count()}× {g.Key}").Take(8).ToList();
        return new LatencyPhase(variant, round, phase, System.Diagnostics.Stopwatch.GetElapsedTime(start, end), mine.Count,
            mine.Count(s => s.Outcome == Outcome.Failed), mine.Count(s => s.Outcome == Outcome.OutOfStock),
            OrderLatency.Of(mine.Where(s => s.Outcome == Outcome.Charged)), OrderLatency.Of(mine.Where(s => s.Outcome == Outcome.Declined)),
            cpu, errors);
    }

    public double Rate => Orders / Duration.TotalSeconds;

    /// <summary>CPU milliseconds per order of <paramref name="group"/> (all its processes), or NaN when it has none.</summary>
    public double CpuPerOrder(string group) => Orders == 0 || !Cpu.TryGetValue(group, out var t) ? double.NaN : t.TotalMilliseconds / Orders;

    /// <summary>CPU per order of every process of the app and of DCP and the dashboard (not this process, not the machine).</summary>
    public double AppCpuPerOrder => Orders == 0 ? double.NaN
        : Cpu.Where(c => c.Key is not (ProcessGroups.Bench or "machine")).Sum(c => c.Value.TotalMilliseconds) / Orders;

    /// <summary>CPU per order of the services alone (every project resource's processes: not DCP, the dashboard or this process).</summary>
    public double ServicesCpuPerOrder => Orders == 0 ? double.NaN
        : Cpu.Where(c => c.Key is not (ProcessGroups.Bench or ProcessGroups.Dcp or ProcessGroups.Dashboard or ProcessGroups.Other or "machine"))
            .Sum(c => c.Value.TotalMilliseconds) / Orders;

    /// <summary>The machine's busy share (of all cores) during the phase, and the part of it that is not ours.</summary>
    public (double Busy, double Foreign) MachineLoad
    {
        get
        {
            var all = Duration.TotalMilliseconds * Environment.ProcessorCount;
            var busy = Cpu.GetValueOrDefault("machine").TotalMilliseconds;
            var ours = Cpu.Where(c => c.Key != "machine").Sum(c => c.Value.TotalMilliseconds);
            return (busy / all, Math.Max(0, busy - ours) / all);
        }
    }

    public static string LatencyTable(IEnumerable<LatencyPhase> phases)
    {
        var text = new StringBuilder();
        text.AppendLine("| variant | round | phase | s | orders | req/s | failed | charged: n, p50 / p99 / p99.9 / max ms | declined: n, p50 / p99 / p99.9 / max ms |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var p in phases)
        {
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {p.Variant} | {p.Round} | {p.Phase} | {p.Duration.TotalSeconds:0.0} | {p.Orders:N0} | {p.Rate:0} | {p.Failed} | {p.Charged.Count:N0}, {p.Charged} | {p.Declined.Count:N0}, {p.Declined} |"));
        }

        return text.ToString();
    }

    public static string CpuTable(IEnumerable<LatencyPhase> phases)
    {
        var text = new StringBuilder();
        text.AppendLine($"| variant | round | phase | {string.Join(" | ", CpuColumns)} | app+dcp+dashboard | machine busy / not ours |");
        text.AppendLine($"|---|---|---|{string.Concat(CpuColumns.Select(_ => "---|"))}---|---|");
        foreach (var p in phases)
        {
            var (busy, foreign) = p.MachineLoad;
            text.Append(CultureInfo.InvariantCulture, $"| {p.Variant} | {p.Round} | {p.Phase} | ");
            text.Append(string.Join(" | ", CpuColumns.Select(c => Ms(p.CpuPerOrder(c)))));
            text.AppendLine(string.Create(CultureInfo.InvariantCulture, $" | {Ms(p.AppCpuPerOrder)} | {busy:P0} / {foreign:P0} |"));
        }

        return text.ToString();
    }

    private static string Ms(double value) => double.IsNaN(value) ? "—" : value.ToString("0.00", CultureInfo.InvariantCulture);
}
