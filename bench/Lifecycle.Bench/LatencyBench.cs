using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace MtlsAspire.Lifecycle.Bench;

/// <summary>
/// <c>--latency</c>: one order's end-to-end latency through its four mTLS hops (shopper → order → inventory, order →
/// payment → legacy-proxy, then the ledger's socket), and the CPU each process spends on it, in variants of the app. Each
/// variant is a fresh app start; the variants run back to back, <c>--rounds</c> times over.
/// </summary>
internal static class LatencyBench
{
    public static async Task<int> RunAsync(BenchOptions options, CancellationToken cancellationToken)
    {
        var total = Stopwatch.StartNew();
        Console.WriteLine($"Lifecycle.Bench --latency: variants {string.Join(", ", options.Variants.Select(v => v.Name))} × {options.Rounds} round(s); " +
            $"{options.Warmup} warm-up orders, {options.Orders} sequential charged orders, {options.Loaded.TotalSeconds:0} s of {options.Workers} workers " +
            $"(every {options.ChargeEvery}th charged); {Environment.ProcessorCount} CPUs; load average {LoadAverage()}");
        var phases = new List<LatencyPhase>();
        var exit = 0;
        for (var round = 1; round <= options.Rounds; round++)
        {
            foreach (var setup in options.Variants.TakeWhile(_ => !cancellationToken.IsCancellationRequested))
            {
                var (measured, ok) = await RunVariantAsync(setup, round, options, cancellationToken);
                phases.AddRange(measured);
                exit = ok ? exit : 1;
            }
        }

        Console.WriteLine();
        Console.WriteLine($"load average at the end {LoadAverage()}; total {total.Elapsed.TotalMinutes:0.0} min");
        Console.WriteLine();
        Console.WriteLine(LatencyPhase.LatencyTable(phases));
        Console.WriteLine("CPU ms per order (utime+stime from /proc over the phase, divided by its orders):");
        Console.WriteLine(LatencyPhase.CpuTable(phases));
        Console.WriteLine(Ratios(phases, options.Variants));
        if (TelemetryCost(phases) is { } cost)
        {
            Console.WriteLine(cost);
        }

        Console.WriteLine(SummaryLine(phases));
        return exit;
    }

    private static async Task<(List<LatencyPhase> Phases, bool Ok)> RunVariantAsync(AppSetup setup, int round, BenchOptions options, CancellationToken cancellationToken)
    {
        Console.WriteLine();
        Console.WriteLine($"variant {setup.Name} (round {round}): {setup}; load average {LoadAverage()}");
        var state = Path.Combine(options.BaseDirectory ?? Path.GetTempPath(), "lifecycle-bench-" + Guid.NewGuid().ToString("N")[..12]);
        var phases = new List<LatencyPhase>();
        var watched = new HashSet<int>();
        var ok = true;
        BenchApp? app = null;
        OrderLoad? load = null;
        try
        {
            var starting = Stopwatch.StartNew();
            app = await BenchApp.StartAsync(state, setup, cancellationToken);
            var groups = ProcessGroups.Of(app);
            watched.UnionWith(groups.Started);
            Console.WriteLine($"  started and healthy in {starting.Elapsed.TotalSeconds:0.0} s; processes: " +
                string.Join(", ", groups.Groups.Select(g => $"{g.Key} {g.Value.Count}")));
            Describe(app, groups);

            var warnings = new WarningLog();
            load = new OrderLoad(app.Https("order"), app.Pki.CredentialsDirectory("shopper"), new LoadShape(1, 0, 4), warnings);
            await load.RunAsync(new LoadShape(1, 0, 4), options.Warmup, TimeSpan.FromMinutes(2), cancellationToken); // JIT, pools, the one connection

            async Task PhaseAsync(string name, LoadShape shape, long orders, TimeSpan limit)
            {
                var before = groups.Sample();
                var start = Stopwatch.GetTimestamp();
                await load.RunAsync(shape, orders, limit, cancellationToken);
                var end = Stopwatch.GetTimestamp();
                var phase = LatencyPhase.Of(setup.Name, round, name, start, end, load.Samples, before, groups.Sample());
                phases.Add(phase);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {name}: {phase.Orders} orders in {phase.Duration.TotalSeconds:0.0} s ({phase.Rate:0}/s), {phase.Failed} failed; charged {phase.Charged}, declined {phase.Declined} ms; app CPU {phase.AppCpuPerOrder:0.00} ms/order"));
                foreach (var error in phase.Errors)
                {
                    Console.WriteLine($"    failed: {error}");
                }

                ok &= phase.Failed == 0;
            }

            await PhaseAsync("sequential", new LoadShape(1, 0, 1), options.Orders, TimeSpan.FromMinutes(5));
            if (options.Loaded > TimeSpan.Zero)
            {
                await PhaseAsync($"{options.Workers} workers", new LoadShape(options.Workers, 0, options.ChargeEvery), long.MaxValue, options.Loaded);
            }

            if (setup.Dashboard)
            {
                Console.WriteLine($"  dashboard has telemetry from: {await TelemetryResourcesAsync(app, cancellationToken)}");
            }

            if (phases.Sum(p => p.OutOfStock) is var outOfStock and > 0)
            {
                Console.WriteLine($"  note: {outOfStock} orders found no stock (409); lower --orders or raise --charge-every");
            }

            foreach (var (_, line) in warnings.Lines.Take(10))
            {
                Console.WriteLine($"  load client log: {line}");
            }
        }
        catch (Exception e)
        {
            // A start that timed out, too: the variant fails, the next one still runs.
            Console.Error.WriteLine($"variant {setup.Name} stopped: {e.GetType().Name}: {e.Message}");
            ok = false;
        }
        finally
        {
            if (load is not null)
            {
                await load.DisposeAsync();
            }

            if (app is not null)
            {
                watched.UnionWith(await app.StopAsync());
            }

            ok &= await Processes.EnsureGoneAsync(watched) == 0;
        }

        return (phases, ok);
    }

    /// <summary>What the variant really is, from the processes: order's port against what it listens on, and its telemetry settings.</summary>
    private static void Describe(BenchApp app, ProcessGroups groups)
    {
        var endpoint = app.Https("order");
        var urls = groups.EnvironmentOf("order", "ASPNETCORE_URLS") ?? "(unset)";
        var direct = urls.Contains($":{endpoint.Port}", StringComparison.Ordinal);
        Console.WriteLine($"  order's endpoint {endpoint.Authority}; it listens on {urls}: {(direct ? "direct (the same port)" : "through DCP's proxy (another port)")}");
        Console.WriteLine($"  order's OTEL_EXPORTER_OTLP_ENDPOINT={groups.EnvironmentOf("order", "OTEL_EXPORTER_OTLP_ENDPOINT") ?? "(unset)"}, " +
            $"OTEL_SDK_DISABLED={groups.EnvironmentOf("order", "OTEL_SDK_DISABLED") ?? "(unset)"}, " +
            $"Logging__LogLevel__Microsoft.AspNetCore={groups.EnvironmentOf("order", "Logging__LogLevel__Microsoft.AspNetCore") ?? "(unset)"}");
    }

    /// <summary>The resources the dashboard holds telemetry from (its telemetry API, signed in with the browser token).</summary>
    private static async Task<string> TelemetryResourcesAsync(BenchApp app, CancellationToken cancellationToken)
    {
        try
        {
            var login = await app.App.GetDashboardUrlAsync(cancellationToken);
            var token = System.Web.HttpUtility.ParseQueryString(login.Query)["t"];
            using var http = new HttpClient { BaseAddress = new Uri(login.GetLeftPart(UriPartial.Authority)), Timeout = TimeSpan.FromSeconds(20) };
            using (var validated = await http.PostAsJsonAsync("/api/telemetry/validateToken", new { token }, cancellationToken))
            {
                validated.EnsureSuccessStatusCode();
                using var key = JsonDocument.Parse(await validated.Content.ReadAsStringAsync(cancellationToken));
                http.DefaultRequestHeaders.Add("x-api-key", key.RootElement.GetProperty("apiKey").GetString());
            }

            using var resources = JsonDocument.Parse(await http.GetStringAsync(new Uri("/api/telemetry/resources", UriKind.Relative), cancellationToken));
            var names = resources.RootElement.EnumerateArray().Select(r => r.GetProperty("name").GetString()).Order(StringComparer.Ordinal).ToList();
            return names.Count == 0 ? "none" : string.Join(", ", names);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or KeyNotFoundException or InvalidOperationException or TaskCanceledException)
        {
            return $"(not asked: {e.GetType().Name}: {e.Message})";
        }
    }

    /// <summary>Each variant against the first, on the medians over the rounds.</summary>
    private static string Ratios(IReadOnlyList<LatencyPhase> phases, IReadOnlyList<AppSetup> variants)
    {
        var text = new System.Text.StringBuilder();
        var baseline = variants[0].Name;
        text.AppendLine($"Each variant against {baseline} (medians over the rounds; ranges over the rounds in brackets):");
        text.AppendLine("| variant | phase | charged p50 ms | charged p99 ms | req/s | app+dcp+dashboard CPU ms/order | p50 / p99 / req/s / CPU vs " + baseline + " |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var phase in phases.Select(p => p.Phase).Distinct())
        {
            var b = phases.Where(p => p.Phase == phase && p.Variant == baseline).ToList();
            foreach (var variant in variants.Select(v => v.Name))
            {
                var mine = phases.Where(p => p.Phase == phase && p.Variant == variant).ToList();
                if (mine.Count == 0 || b.Count == 0)
                {
                    continue;
                }

                string Cell(Func<LatencyPhase, double> f) => mine.Count == 1 ? F(f(mine[0])) : $"{F(Median(mine, f))} [{F(mine.Min(f))}–{F(mine.Max(f))}]";
                string Ratio(Func<LatencyPhase, double> f) => "×" + (Median(mine, f) / Median(b, f)).ToString("0.00", CultureInfo.InvariantCulture);
                text.AppendLine($"| {variant} | {phase} | {Cell(p => p.Charged.P50)} | {Cell(p => p.Charged.P99)} | {Cell(p => p.Rate)} | {Cell(p => p.AppCpuPerOrder)} | " +
                    $"{Ratio(p => p.Charged.P50)} / {Ratio(p => p.Charged.P99)} / {Ratio(p => p.Rate)} / {Ratio(p => p.AppCpuPerOrder)} |");
            }
        }

        return text.ToString();
    }

    /// <summary>
    /// What telemetry costs per order: <c>default</c> (OTLP export to the dashboard, logging as under the AppHost) against
    /// <c>no-telemetry</c>, the services' CPU alone and with DCP and the dashboard, medians over the rounds.
    /// </summary>
    private static string? TelemetryCost(IReadOnlyList<LatencyPhase> phases)
    {
        const string On = "default", Off = "no-telemetry";
        var text = new System.Text.StringBuilder();
        text.AppendLine($"Telemetry cost per order ({On} against {Off}, medians over the rounds):");
        text.AppendLine("| phase | services CPU ms/order on / off | ratio | app+dcp+dashboard CPU ms/order on / off | ratio |");
        text.AppendLine("|---|---|---|---|---|");
        var rows = 0;
        foreach (var phase in phases.Select(p => p.Phase).Distinct())
        {
            var on = phases.Where(p => p.Phase == phase && p.Variant == On).ToList();
            var off = phases.Where(p => p.Phase == phase && p.Variant == Off).ToList();
            if (on.Count == 0 || off.Count == 0)
            {
                continue;
            }

            string Pair(Func<LatencyPhase, double> f) => $"{F(Median(on, f))} / {F(Median(off, f))} | ×{(Median(on, f) / Median(off, f)).ToString("0.00", CultureInfo.InvariantCulture)}";
            text.AppendLine($"| {phase} | {Pair(p => p.ServicesCpuPerOrder)} | {Pair(p => p.AppCpuPerOrder)} |");
            rows++;
        }

        return rows == 0 ? null : text.ToString();
    }

    /// <summary>The last line: the sequential charged orders' p50/p99 per variant (medians over the rounds).</summary>
    private static string SummaryLine(IReadOnlyList<LatencyPhase> phases)
    {
        string Pair(string variant, string prefix)
        {
            var mine = phases.Where(p => p.Phase == "sequential" && p.Variant == variant).ToList();
            return mine.Count == 0 ? $"{prefix}p50_ms=— {prefix}p99_ms=—" : $"{prefix}p50_ms={F(Median(mine, p => p.Charged.P50))} {prefix}p99_ms={F(Median(mine, p => p.Charged.P99))}";
        }

        return $"app: {Pair("default", "")} {Pair("direct", "direct_")} {Pair("no-telemetry", "notelemetry_")}";
    }

    private static double Median(List<LatencyPhase> phases, Func<LatencyPhase, double> f)
    {
        var sorted = phases.Select(f).Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string F(double value) => double.IsNaN(value) ? "—" : value.ToString(value >= 100 ? "0" : "0.00", CultureInfo.InvariantCulture);

    private static string LoadAverage()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "?";
        }
    }
}
