using System.Globalization;
using System.Net;
using System.Text;

namespace MtlsAspire.Lifecycle.Bench;

/// <summary>
/// The soak's curves as one SVG (readable on GitHub and in any browser, nothing to install): a panel per figure, a line
/// per process, the warm-up shaded, a thin line at every renewal and a dashed red one at every intermediate rotation.
/// </summary>
internal static class SoakPlot
{
    private const int Width = 1000, PanelHeight = 170, Left = 70, Right = 210, Top = 30, Gap = 46;

    private static readonly string[] Colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

    private static readonly (string Title, Func<SoakSample, bool> Pick, Func<SoakSample, string> Line)[] Panels =
    [
        ("managed heap after the last GC, MB", s => s.Metric == "heap_mb", s => s.Resource),
        ("live managed heap after a full GC (dotnet-gcdump), after the warm-up and at the end, MB", s => s.Metric == "live_heap_mb", s => s.Resource),
        ("resident memory (RSS), MB", s => s.Metric == "rss_mb", s => s.Resource),
        ("open file descriptors", s => s.Metric == "fds", s => s.Resource),
        ("sockets", s => s.Metric == "sockets", s => s.Resource),
        ("threads", s => s.Metric == "threads", s => s.Resource),
        ("mTLS caches peers fill (entries)", s => s.Metric.StartsWith("cache_", StringComparison.Ordinal) && s.Resource is "order" or "payment" or "legacy-proxy",
            s => $"{s.Resource} {s.Metric["cache_".Length..]}"),
        ("load: orders/s, failed per window", s => s.Resource == "load" && s.Metric is "requests_per_s" or "failed", s => s.Metric == "failed" ? "failed" : "orders/s"),
        ("load: p99 per window, ms", s => s.Resource == "load" && s.Metric == "p99_ms", _ => "p99"),
    ];

    public static void Write(string path, IReadOnlyList<SoakSample> samples, IReadOnlyList<SoakEvent> events, TimeSpan duration, double warmupShare,
        BenchOptions options)
    {
        // One colour per process in every panel; other lines (caches, load) take theirs in order.
        var colorOf = samples.Select(s => s.Resource).Distinct().Order(StringComparer.Ordinal).Select((r, i) => (r, i)).ToDictionary(p => p.r, p => Colors[p.i % Colors.Length], StringComparer.Ordinal);
        var panels = Panels.Select(p => (p.Title, Series: samples.Where(p.Pick).GroupBy(p.Line).OrderBy(g => g.Key, StringComparer.Ordinal).ToList()))
            .Where(p => p.Series.Count > 0).ToList();
        var height = Top + panels.Count * (PanelHeight + Gap);
        var plotWidth = Width - Left - Right;
        var seconds = duration.TotalSeconds;
        var svg = new StringBuilder();
        svg.AppendLine(CultureInfo.InvariantCulture,
            $"""<svg xmlns="http://www.w3.org/2000/svg" width="{Width}" height="{height}" viewBox="0 0 {Width} {height}" font-family="sans-serif" font-size="11">""");
        svg.AppendLine(CultureInfo.InvariantCulture, $"""<rect width="{Width}" height="{height}" fill="white"/>""");
        svg.AppendLine(CultureInfo.InvariantCulture,
            $"""<text x="{Left}" y="18" font-size="13">Soak, {duration.TotalMinutes:0} min, {DateTime.UtcNow:yyyy-MM-dd}: every leaf renewed every {options.RenewEvery.TotalSeconds:0} s (grey), the intermediate rotated every {options.RotateEvery.TotalSeconds:0} s (red, dashed), a full GC for the live heap after the warm-up and at the end (green, dotted); warm-up shaded</text>""");
        for (var i = 0; i < panels.Count; i++)
        {
            var (title, series) = panels[i];
            var y0 = Top + i * (PanelHeight + Gap) + 16;
            var max = series.SelectMany(g => g).Max(s => s.Value);
            var top = NiceCeiling(max <= 0 ? 1 : max * 1.08);
            double X(double at) => Left + Math.Clamp(at / seconds, 0, 1) * plotWidth;
            double Y(double value) => y0 + PanelHeight - value / top * PanelHeight;

            svg.AppendLine(CultureInfo.InvariantCulture, $"""<text x="{Left}" y="{y0 - 5}" font-weight="bold">{WebUtility.HtmlEncode(title)}</text>""");
            svg.AppendLine(CultureInfo.InvariantCulture, $"""<rect x="{Left}" y="{y0}" width="{X(seconds * warmupShare) - Left:0.#}" height="{PanelHeight}" fill="#f2f2f2"/>""");
            foreach (var e in events)
            {
                if (e.Kind.StartsWith("full GC", StringComparison.Ordinal))
                {
                    svg.AppendLine(CultureInfo.InvariantCulture,
                        $"""<line x1="{X(e.At.TotalSeconds):0.#}" y1="{y0}" x2="{X(e.At.TotalSeconds):0.#}" y2="{y0 + PanelHeight}" stroke="#2ca02c" stroke-width="1.5" stroke-dasharray="2 2"/>""");
                    continue;
                }

                var rotation = e.Kind != "renewal";
                svg.AppendLine(CultureInfo.InvariantCulture,
                    $"""<line x1="{X(e.At.TotalSeconds):0.#}" y1="{y0}" x2="{X(e.At.TotalSeconds):0.#}" y2="{y0 + PanelHeight}" stroke="{(rotation ? "#d62728" : "#dddddd")}" stroke-width="1"{(rotation ? " stroke-dasharray=\"4 3\"" : "")}/>""");
            }

            for (var tick = 0; tick <= 4; tick++)
            {
                var value = top * tick / 4;
                svg.AppendLine(CultureInfo.InvariantCulture, $"""<line x1="{Left - 4}" y1="{Y(value):0.#}" x2="{Left}" y2="{Y(value):0.#}" stroke="black"/>""");
                svg.AppendLine(CultureInfo.InvariantCulture, $"""<text x="{Left - 7}" y="{Y(value) + 4:0.#}" text-anchor="end">{value:0.##}</text>""");
            }

            for (var minute = 0; minute <= duration.TotalMinutes; minute += duration.TotalMinutes > 20 ? 5 : 1)
            {
                svg.AppendLine(CultureInfo.InvariantCulture, $"""<text x="{X(minute * 60):0.#}" y="{y0 + PanelHeight + 13}" text-anchor="middle">{minute} min</text>""");
            }

            svg.AppendLine(CultureInfo.InvariantCulture, $"""<rect x="{Left}" y="{y0}" width="{plotWidth}" height="{PanelHeight}" fill="none" stroke="black"/>""");
            for (var s = 0; s < series.Count; s++)
            {
                var color = colorOf.GetValueOrDefault(series[s].Key) ?? Colors[s % Colors.Length];
                var points = string.Join(' ', series[s].OrderBy(p => p.At).Select(p => string.Create(CultureInfo.InvariantCulture, $"{X(p.At):0.#},{Y(p.Value):0.#}")));
                svg.AppendLine(CultureInfo.InvariantCulture, $"""<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.3"/>""");
                svg.AppendLine(CultureInfo.InvariantCulture,
                    $"""<text x="{Left + plotWidth + 8}" y="{y0 + 10 + s * 13}" fill="{color}">{WebUtility.HtmlEncode(series[s].Key)}</text>""");
            }
        }

        svg.AppendLine("</svg>");
        File.WriteAllText(path, svg.ToString());
    }

    /// <summary>1, 2 or 5 times a power of ten, at least <paramref name="value"/>.</summary>
    private static double NiceCeiling(double value)
    {
        var power = Math.Pow(10, Math.Floor(Math.Log10(value)));
        return value <= power ? power : value <= 2 * power ? 2 * power : value <= 5 * power ? 5 * power : 10 * power;
    }
}
