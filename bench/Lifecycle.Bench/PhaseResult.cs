using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace MtlsAspire.Lifecycle.Bench;

/// <summary>Latency figures of one kind of connection in one phase.</summary>
internal sealed record Latency(int Count, double P50, double P99, double Max)
{
    public static Latency Of(IEnumerable<double> milliseconds)
    {
        var sorted = milliseconds.Order().ToArray();
        return sorted.Length == 0
            ? new Latency(0, double.NaN, double.NaN, double.NaN)
            : new Latency(sorted.Length, Percentile(sorted, 0.50), Percentile(sorted, 0.99), sorted[^1]);
    }

    // Nearest rank.
    private static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}

/// <summary>One measured phase: the requests that started between its start and its end.</summary>
internal sealed record PhaseResult(string Name, TimeSpan Duration, int Requests, int Failed, int Charged, int OutOfStock, Latency All, Latency KeepAlive,
    Latency NewConnection, IReadOnlyList<string> Errors, string? Note)
{
    public static PhaseResult Of(string name, long start, long end, IEnumerable<Sample> samples, string? note)
    {
        var mine = samples.Where(s => s.Started >= start && s.Started < end).ToList();
        var errors = mine.Where(s => s.Outcome == Outcome.Failed)
            .GroupBy(s => s.Error ?? "?")
            .OrderByDescending(g => g.Count())
            .Select(g => $"{g.Count()}× ({(g.First().NewConnection ? "new connection" : "keep-alive")}) {g.Key}")
            .Take(8)
            .ToList();
        return new PhaseResult(name, Stopwatch.GetElapsedTime(start, end), mine.Count, mine.Count(s => s.Outcome == Outcome.Failed),
            mine.Count(s => s.Outcome == Outcome.Charged), mine.Count(s => s.Outcome == Outcome.OutOfStock),
            Latency.Of(mine.Select(s => s.Milliseconds)),
            Latency.Of(mine.Where(s => !s.NewConnection).Select(s => s.Milliseconds)),
            Latency.Of(mine.Where(s => s.NewConnection).Select(s => s.Milliseconds)),
            errors, note);
    }

    public double Rate => Requests / Duration.TotalSeconds;

    /// <summary>The markdown table of the phases, each compared with the first (steady state).</summary>
    public static string Table(IReadOnlyList<PhaseResult> phases)
    {
        var steady = phases[0];
        var text = new StringBuilder();
        text.AppendLine("| phase | s | requests | req/s | failed | charged | keep-alive p50 / p99 / max ms | new conn. p50 / p99 / max ms | p99 vs steady (ka / new) |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|");
        foreach (var p in phases)
        {
            text.Append(CultureInfo.InvariantCulture, $"| {p.Name} | {p.Duration.TotalSeconds:0.0} | {p.Requests:N0} | {p.Rate:0} | {p.Failed} | {p.Charged} | ");
            text.Append(CultureInfo.InvariantCulture, $"{Ms(p.KeepAlive)} | {Ms(p.NewConnection)} | ");
            text.AppendLine(p == steady ? "— |" : $"×{Ratio(p.KeepAlive.P99, steady.KeepAlive.P99)} / ×{Ratio(p.NewConnection.P99, steady.NewConnection.P99)} |");
        }

        return text.ToString();
    }

    private static string Ms(Latency l) => l.Count == 0 ? "—" : string.Create(CultureInfo.InvariantCulture, $"{l.P50:0.0} / {l.P99:0.0} / {l.Max:0}");

    private static string Ratio(double value, double baseline) =>
        double.IsNaN(value) || double.IsNaN(baseline) || baseline == 0 ? "—" : (value / baseline).ToString("0.0", CultureInfo.InvariantCulture);
}
