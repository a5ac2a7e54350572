using System.Diagnostics;
using System.Globalization;
using System.Text;
using MtlsAspire.CertBootstrap.Ledger;

namespace MtlsAspire.Lifecycle.Bench;

/// <summary>
/// The soak: the app as <c>dotnet run --project MtlsAspire.AppHost</c> runs it (dashboard, telemetry, default logs),
/// <see cref="OrderLoad"/> through every hop for the whole run, every leaf renewed every minute and the intermediate
/// rotated every ten (each waited for until every service loaded it), and every service sampled from /proc and, with
/// dotnet-counters, for its managed heap and the mTLS caches peers fill. Writes the samples, the events, a summary with
/// the drift of each figure and a plot (<see cref="SoakPlot"/>); fails when a request failed.
/// </summary>
internal static class SoakBench
{
    /// <summary>Figures before this share of the run are warm-up (JIT, pools, the dashboard filling its buffers): not in the drift.</summary>
    private const double WarmupShare = 1.0 / 6;

    public static async Task<int> RunAsync(BenchOptions options, TimeSpan duration, CancellationToken ct)
    {
        Directory.CreateDirectory(options.Out);
        var state = Path.Combine(options.BaseDirectory ?? Path.GetTempPath(), "lifecycle-soak-" + Guid.NewGuid().ToString("N")[..12]);
        Console.WriteLine($"soak: {duration.TotalMinutes:0} min, {options.Workers} workers ({options.ClosingWorkers} with Connection: close), every " +
            $"{options.ChargeEvery}th order charged, leaves renewed every {options.RenewEvery.TotalSeconds:0} s, intermediate rotated every " +
            $"{options.RotateEvery.TotalSeconds:0} s, samples every {options.SampleEvery.TotalSeconds:0} s; {Environment.ProcessorCount} CPUs");

        BenchApp? app = null;
        OrderLoad? load = null;
        var counters = new List<Process>();
        var watched = new HashSet<int>();
        var samples = new List<SoakSample>();
        var events = new List<SoakEvent>();
        var exit = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            app = await BenchApp.StartAsync(state, AppSetup.Default with { Name = "soak" }, ct, builder =>
            {
                // Enough stock for every charged order of the run (the default 1,000 of each would run out, and an order
                // without stock never reaches payment and the ledger), and the intruder at its default pace.
                builder.CreateResourceBuilder<ProjectResource>("inventory").WithEnvironment("Inventory__OnHand", "10000000");
                builder.CreateResourceBuilder<ProjectResource>("intruder").WithEnvironment("Intruder__Interval", "00:00:20");
            });
            Console.WriteLine($"app started and healthy in {clock.Elapsed.TotalSeconds:0.0} s: {string.Join(", ", app.Identities)}");
            watched.UnionWith(app.ServiceProcesses());
            var services = Applications(app);
            if (options.Counters is { } tool)
            {
                foreach (var (resource, pid) in services)
                {
                    counters.Add(StartCounters(tool, resource, pid, options, duration));
                }
            }
            else
            {
                Console.WriteLine("no --counters: managed heap and mTLS caches are not sampled (bench/soak.sh installs dotnet-counters)");
            }

            load = new OrderLoad(app.Https("order"), app.Pki.CredentialsDirectory("shopper"), new LoadShape(options.Workers, options.ClosingWorkers, options.ChargeEvery),
                new WarningLog());
            var start = Stopwatch.GetTimestamp();
            var startedAt = DateTime.Now;
            load.Start();
            using var sampling = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var sampler = SampleAsync(app, load, start, options.SampleEvery, samples, sampling.Token);

            var liveHeaps = new List<SoakSample>();
            async Task LiveHeapsAsync(string label)
            {
                if (options.GcDump is { } gcdump)
                {
                    var at = Stopwatch.GetElapsedTime(start);
                    liveHeaps.AddRange(await SoakGcDump.LiveHeapsAsync(gcdump, Applications(app), options.Out, label, at, ct));
                    events.Add(new SoakEvent(at, "full GC (gcdump)", Stopwatch.GetElapsedTime(start).TotalSeconds - at.TotalSeconds));
                }
            }

            var warmedUp = false;
            var next = options.RenewEvery;
            while (next < duration) // none at the very end: the load stops there
            {
                if (!warmedUp && Stopwatch.GetElapsedTime(start) >= duration * WarmupShare)
                {
                    warmedUp = true;
                    await LiveHeapsAsync("after-warmup");
                }

                var wait = next - Stopwatch.GetElapsedTime(start);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, ct);
                }

                var rotate = next.Ticks % options.RotateEvery.Ticks == 0;
                events.Add(rotate ? await RotateIntermediateAsync(app, start, ct) : await RenewEveryLeafAsync(app, start, ct));
                var last = events[^1];
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{last.At.TotalMinutes,5:0.0} min  {last.Kind}: loaded everywhere in {last.Seconds:0.0} s; so far {load.Samples.Count:N0} requests, {load.Samples.Count(s => s.Outcome == Outcome.Failed)} failed"));
                next += options.RenewEvery;
            }

            var rest = duration - Stopwatch.GetElapsedTime(start);
            if (rest > TimeSpan.Zero)
            {
                await Task.Delay(rest, ct);
            }

            await LiveHeapsAsync("end");

            await sampling.CancelAsync();
            await sampler;
            var end = Stopwatch.GetTimestamp();
            await load.DisposeAsync();
            var result = PhaseResult.Of("soak", start, end, load.Samples, null);
            load = null;
            Console.WriteLine($"{result.Requests:N0} requests ({result.Rate:0}/s), {result.Failed} failed, {result.Charged:N0} charged, p99 {result.All.P99:0.0} ms");
            foreach (var error in result.Errors)
            {
                Console.WriteLine($"  failed: {error}");
            }

            if (result.Failed > 0)
            {
                exit = 1;
            }

            // Stopping the app ends every dotnet-counters (its process is gone); then the counters' files are complete.
            watched.UnionWith(await app.StopAsync());
            app = null;
            await StopAsync(counters);
            samples.AddRange(SoakCounters.Read(options.Out, services.Keys, startedAt));
            samples.AddRange(liveHeaps);
            var summary = SoakSummary.Write(options, duration, result, samples, events, WarmupShare);
            Console.WriteLine(summary);
            SoakPlot.Write(Path.Combine(options.Out, "soak.svg"), samples, events, duration, WarmupShare, options);
            Console.WriteLine($"written: samples.csv, events.csv, summary.md, soak.svg in {options.Out}");
        }
        catch (Exception e) when (e is not OperationCanceledException || ct.IsCancellationRequested)
        {
            Console.Error.WriteLine($"soak stopped: {e.GetType().Name}: {e.Message}");
            exit = 1;
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

            await StopAsync(counters);
            watched.UnionWith(counters.Select(c => c.Id));
            if (await Processes.EnsureGoneAsync(watched) > 0)
            {
                exit = 1;
            }

            foreach (var process in counters)
            {
                process.Dispose();
            }

            Console.WriteLine($"total {clock.Elapsed.TotalMinutes:0.0} min");
        }

        return exit;
    }

    /// <summary>Per service resource, its application process (the one below <c>dotnet run</c>, when DCP started one).</summary>
    internal static Dictionary<string, int> Applications(BenchApp app) =>
        app.ServiceProcessesByResource().ToDictionary(
            r => r.Key,
            r => r.Value.Count > 1 && Processes.CommandLine(r.Value[0]).StartsWith("dotnet run", StringComparison.Ordinal) ? r.Value[1] : r.Value[0],
            StringComparer.Ordinal);

    private static Process StartCounters(string tool, string resource, int pid, BenchOptions options, TimeSpan duration)
    {
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["collect", "--process-id", pid.ToString(CultureInfo.InvariantCulture),
            "--counters", "System.Runtime[dotnet.gc.last_collection.heap.size,dotnet.gc.heap.total_allocated,dotnet.gc.collections,dotnet.process.memory.working_set],MtlsAspire.Mtls[mtls.cache.entries,mtls.credentials.generation]",
            "--refresh-interval", options.SampleEvery.TotalSeconds.ToString(CultureInfo.InvariantCulture),
            "--format", "csv", "--output", SoakCounters.FileOf(options.Out, resource),
            "--duration", (duration + TimeSpan.FromMinutes(5)).ToString(@"dd\:hh\:mm\:ss", CultureInfo.InvariantCulture)])
        {
            start.ArgumentList.Add(argument);
        }

        // Timestamps in the CSV in the invariant format, whatever this machine's locale.
        start.Environment["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1";
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{tool} did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) =>
        {
            if (!string.IsNullOrWhiteSpace(e.Data))
            {
                Console.WriteLine($"dotnet-counters ({resource}): {e.Data}");
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Waits (at most 30 s) for each dotnet-counters to end by itself (its target stopped), then kills it by its process id.</summary>
    private static async Task StopAsync(IEnumerable<Process> counters)
    {
        foreach (var process in counters)
        {
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await process.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None);
            }
        }
    }

    private static async Task<SoakEvent> RenewEveryLeafAsync(BenchApp app, long start, CancellationToken ct)
    {
        var at = Stopwatch.GetElapsedTime(start);
        var began = Stopwatch.GetTimestamp();
        var serials = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var service in app.Identities)
        {
            await app.CommandAsync(service, "renew-certificate", ct);
            serials[app.Pki.IdentityOf(service).ToString()] = app.Ledger.ActiveLeaf(service)!.Serial;
        }

        await app.UntilEveryServiceAsync("its renewed leaf", s => string.Equals(serials.GetValueOrDefault(s.SpiffeId), s.Leaf.Serial, StringComparison.OrdinalIgnoreCase), ct);
        return new SoakEvent(at, "renewal", Stopwatch.GetElapsedTime(began).TotalSeconds);
    }

    private static async Task<SoakEvent> RotateIntermediateAsync(BenchApp app, long start, CancellationToken ct)
    {
        var at = Stopwatch.GetElapsedTime(start);
        var began = Stopwatch.GetTimestamp();
        await app.CommandAsync("pki", "rotate-intermediate", ct);
        var intermediate = app.Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active)[^1].Serial;
        await app.UntilEveryServiceAsync("a leaf under the new intermediate", s => string.Equals(s.Leaf.IssuerSerial, intermediate, StringComparison.OrdinalIgnoreCase), ct);
        return new SoakEvent(at, "intermediate rotation", Stopwatch.GetElapsedTime(began).TotalSeconds);
    }

    /// <summary>Every <paramref name="every"/>: each service's and the dashboard's figures from /proc, and the load's window.</summary>
    private static async Task SampleAsync(BenchApp app, OrderLoad load, long start, TimeSpan every, List<SoakSample> samples, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(every);
        var seen = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var at = Stopwatch.GetElapsedTime(start).TotalSeconds;
                var processes = Applications(app);
                foreach (var dashboard in ProcessGroups.Of(app).Groups.GetValueOrDefault(ProcessGroups.Dashboard, []).Take(1))
                {
                    processes[ProcessGroups.Dashboard] = dashboard;
                }

                foreach (var (resource, pid) in processes)
                {
                    foreach (var (metric, value) in ProcFigures.Of(pid))
                    {
                        samples.Add(new SoakSample(at, resource, metric, value));
                    }
                }

                var window = load.Samples.Skip(seen).ToList();
                seen += window.Count;
                samples.Add(new SoakSample(at, "load", "requests_per_s", window.Count / every.TotalSeconds));
                samples.Add(new SoakSample(at, "load", "failed", window.Count(s => s.Outcome == Outcome.Failed)));
                if (window.Count > 0)
                {
                    samples.Add(new SoakSample(at, "load", "p99_ms", Latency.Of(window.Select(s => s.Milliseconds)).P99));
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }
}

/// <summary>One figure of one process (or of the load) at a time of the run (seconds since the load started).</summary>
internal sealed record SoakSample(double At, string Resource, string Metric, double Value);

/// <summary>A renewal or rotation: when it began and how long until every service had loaded it.</summary>
internal sealed record SoakEvent(TimeSpan At, string Kind, double Seconds);

/// <summary>What /proc says of a process: resident memory, open file descriptors, of them sockets, threads.</summary>
internal static class ProcFigures
{
    public static IReadOnlyList<(string Metric, double Value)> Of(int pid)
    {
        try
        {
            var status = File.ReadAllLines($"/proc/{pid}/status");
            double Field(string name) =>
                status.FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal)) is { } line
                    ? double.Parse(line[(name.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture)
                    : double.NaN;
            var fds = 0;
            var sockets = 0;
            foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
            {
                fds++;
                try
                {
                    if (File.ResolveLinkTarget(fd, returnFinalTarget: false)?.FullName is { } target && target.Contains("socket:[", StringComparison.Ordinal))
                    {
                        sockets++;
                    }
                }
                catch (IOException)
                {
                    // closed meanwhile
                }
            }

            return [("rss_mb", Field("VmRSS") / 1024), ("fds", fds), ("sockets", sockets), ("threads", Field("Threads"))];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return []; // gone (a restart): a gap in the curve
        }
    }
}

/// <summary>
/// The live managed heap of each service: <c>dotnet-gcdump collect</c> induces a full, blocking GC and walks the heap,
/// and its report's first line is the bytes of everything still reachable. The dumps (types and sizes, no contents) are deleted.
/// </summary>
internal static class SoakGcDump
{
    public static async Task<IReadOnlyList<SoakSample>> LiveHeapsAsync(string tool, IReadOnlyDictionary<string, int> services, string directory, string label,
        TimeSpan at, CancellationToken ct)
    {
        var samples = new List<SoakSample>();
        foreach (var (resource, pid) in services)
        {
            var dump = Path.Combine(directory, $"{resource}-{label}.gcdump");
            try
            {
                await RunAsync(tool, ["collect", "--process-id", pid.ToString(CultureInfo.InvariantCulture), "--output", dump], ct);
                var report = await RunAsync(tool, ["report", dump], ct);
                var line = report.Split('\n').FirstOrDefault(l => l.Contains("GC Heap bytes", StringComparison.Ordinal));
                if (line is not null && long.TryParse(line.Trim().Split(' ')[0], NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out var bytes))
                {
                    samples.Add(new SoakSample(at.TotalSeconds, resource, "live_heap_mb", bytes / 1024.0 / 1024.0));
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  live heap of {resource} ({label}): {bytes / 1024.0 / 1024.0:0.00} MB"));
                }
                else
                {
                    Console.WriteLine($"  live heap of {resource} ({label}): no 'GC Heap bytes' line in the report");
                }
            }
            finally
            {
                File.Delete(dump);
            }
        }

        return samples;
    }

    private static async Task<string> RunAsync(string tool, string[] arguments, CancellationToken ct)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{tool} did not start");
        var output = process.StandardOutput.ReadToEndAsync(ct);
        var error = process.StandardError.ReadToEndAsync(ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return await output + await error;
    }
}

/// <summary>The CSV files dotnet-counters wrote, one per service, as samples.</summary>
internal static class SoakCounters
{
    public static string FileOf(string directory, string resource) => Path.Combine(directory, $"counters-{resource}.csv");

    /// <summary>
    /// The managed heap after the last GC (all generations summed, MB), bytes allocated (MB) and each mTLS cache, per
    /// service; their times, seconds since <paramref name="origin"/> (the load's start), from the rows' local wall-clock timestamps.
    /// </summary>
    public static IEnumerable<SoakSample> Read(string directory, IEnumerable<string> resources, DateTime origin)
    {
        foreach (var resource in resources)
        {
            var file = FileOf(directory, resource);
            if (!File.Exists(file))
            {
                continue;
            }

            // Timestamp,Provider,Counter Name,Counter Type,Mean/Increment — names carry their unit and tags:
            // "dotnet.gc.last_collection.heap.size (By) / gc.heap.generation=gen0"
            var rows = File.ReadLines(file).Skip(1).Select(l => l.Split(',')).Where(f => f.Length >= 5)
                .Select(f => (At: DateTime.TryParse(f[0], CultureInfo.InvariantCulture, DateTimeStyles.None, out var t) ? t : (DateTime?)null, Name: f[2], Value: f[4]))
                .Where(r => r.At is not null && double.TryParse(r.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                .Select(r => (At: (r.At!.Value - origin).TotalSeconds, r.Name, Value: double.Parse(r.Value, NumberStyles.Float, CultureInfo.InvariantCulture)));
            foreach (var group in rows.GroupBy(r => r.At))
            {
                var heap = group.Where(r => r.Name.StartsWith("dotnet.gc.last_collection.heap.size", StringComparison.Ordinal)).ToList();
                if (heap.Count > 0)
                {
                    yield return new SoakSample(group.Key, resource, "heap_mb", heap.Sum(r => r.Value) / 1024 / 1024);
                }

                foreach (var row in group)
                {
                    var collections = group.Where(r => r.Name.StartsWith("dotnet.gc.collections", StringComparison.Ordinal) && r.Name.Contains("gen2", StringComparison.Ordinal)).ToList();
                    if (collections.Count > 0 && row == group.First())
                    {
                        yield return new SoakSample(group.Key, resource, "gen2_collections", collections.Sum(r => r.Value));
                    }

                    if (row.Name.StartsWith("dotnet.gc.heap.total_allocated", StringComparison.Ordinal))
                    {
                        yield return new SoakSample(group.Key, resource, "allocated_mb_per_s", row.Value / 1024 / 1024);
                    }
                    else if (row.Name.StartsWith("mtls.cache.entries", StringComparison.Ordinal) && row.Name.Split("cache=") is [_, var cache, ..])
                    {
                        yield return new SoakSample(group.Key, resource, "cache_" + cache.Split(';', ' ', ']')[0], row.Value);
                    }
                    else if (row.Name.StartsWith("mtls.credentials.generation", StringComparison.Ordinal))
                    {
                        yield return new SoakSample(group.Key, resource, "generation", row.Value);
                    }
                }
            }
        }
    }
}

/// <summary>samples.csv, events.csv, and summary.md: per process and figure, its value after the warm-up and at the end.</summary>
internal static class SoakSummary
{
    public static string Write(BenchOptions options, TimeSpan duration, PhaseResult load, IReadOnlyList<SoakSample> samples, IReadOnlyList<SoakEvent> events,
        double warmupShare)
    {
        File.WriteAllLines(Path.Combine(options.Out, "samples.csv"),
            samples.OrderBy(s => s.At).Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.At:0.0},{s.Resource},{s.Metric},{s.Value:0.###}")).Prepend("at_s,resource,metric,value"));
        File.WriteAllLines(Path.Combine(options.Out, "events.csv"),
            events.Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.At.TotalSeconds:0.0},{e.Kind},{e.Seconds:0.00}")).Prepend("at_s,kind,seconds_until_loaded_everywhere"));

        var text = new StringBuilder();
        var warm = duration.TotalSeconds * warmupShare;
        var window = Math.Min(180, (duration.TotalSeconds - warm) / 4);
        text.AppendLine(CultureInfo.InvariantCulture, $"soak: {duration.TotalMinutes:0} min on {Environment.ProcessorCount} CPUs, {DateTime.UtcNow:yyyy-MM-dd}");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"load: {load.Requests:N0} orders ({load.Rate:0}/s), **{load.Failed} failed**, {load.Charged:N0} charged through payment, legacy-proxy and legacy-ledger; " +
            $"p50 {load.All.P50:0.0} ms, p99 {load.All.P99:0.0} ms, max {load.All.Max:0} ms");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"events: {events.Count(e => e.Kind == "renewal")} renewals of every leaf (loaded everywhere in {Range(events.Where(e => e.Kind == "renewal"))} s), " +
            $"{events.Count(e => e.Kind == "intermediate rotation")} intermediate rotations ({Range(events.Where(e => e.Kind == "intermediate rotation"))} s)");
        text.AppendLine();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Median of the {window:0} s after the warm-up ({warm / 60:0.#} min) → median of the last {window:0} s; slope by least squares over everything after the warm-up.");
        text.AppendLine();
        text.AppendLine("| process | figure | after warm-up | at the end | change | slope per 10 min | max |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var series in samples.Where(s => s.Resource != "load").GroupBy(s => (s.Resource, s.Metric)).OrderBy(g => g.Key.Resource, StringComparer.Ordinal).ThenBy(g => g.Key.Metric, StringComparer.Ordinal))
        {
            var after = series.Where(s => s.At >= warm).OrderBy(s => s.At).ToList();
            if (after.Count < 4)
            {
                continue;
            }

            var first = Median(after.Where(s => s.At < warm + window).Select(s => s.Value));
            var last = Median(after.Where(s => s.At > duration.TotalSeconds - window).Select(s => s.Value));
            var change = first == 0 ? (last == 0 ? "0" : "—") : string.Create(CultureInfo.InvariantCulture, $"{(last - first) / first:+0.0%;-0.0%;0.0%}");
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {series.Key.Resource} | {series.Key.Metric} | {first:0.##} | {last:0.##} | {change} | {Slope(after) * 600:+0.###;-0.###;0} | {series.Max(s => s.Value):0.##} |"));
        }

        var live = samples.Where(s => s.Metric == "live_heap_mb").GroupBy(s => s.Resource).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        if (live.Count > 0)
        {
            text.AppendLine();
            text.AppendLine("Live managed heap after a full GC (dotnet-gcdump collect, which induces one), after the warm-up and at the end, MB:");
            text.AppendLine();
            text.AppendLine("| process | after warm-up | at the end | change |");
            text.AppendLine("|---|---|---|---|");
            foreach (var series in live)
            {
                var points = series.OrderBy(s => s.At).ToList();
                var first = points[0].Value;
                var last = points[^1].Value;
                text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {series.Key} | {first:0.00} | {last:0.00} | {(points.Count < 2 ? "—" : $"{last - first:+0.00;-0.00;0.00} MB ({(last - first) / first:+0.0%;-0.0%;0.0%})")} |"));
            }
        }

        File.WriteAllText(Path.Combine(options.Out, "summary.md"), text.ToString());
        return text.ToString();
    }

    private static string Range(IEnumerable<SoakEvent> events) =>
        events.Any() ? string.Create(CultureInfo.InvariantCulture, $"{events.Min(e => e.Seconds):0.0}–{events.Max(e => e.Seconds):0.0}") : "—";

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static double Slope(IReadOnlyList<SoakSample> points)
    {
        var meanX = points.Average(p => p.At);
        var meanY = points.Average(p => p.Value);
        var sxx = points.Sum(p => (p.At - meanX) * (p.At - meanX));
        return sxx == 0 ? 0 : points.Sum(p => (p.At - meanX) * (p.Value - meanY)) / sxx;
    }
}
