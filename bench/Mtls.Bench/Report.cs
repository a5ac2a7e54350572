using System.Globalization;

namespace MtlsAspire.Mtls.Bench;

/// <summary>Formats the rows, the comparisons between them, and a Markdown table for docs/benchmarks.md.</summary>
internal static class Report
{
    public static string Header => Format(
        $"{"phase",-6} {"row",-78} {"W",2} {"requests",8} {"req/s",8} {"ms/req",7} {"srv µs/req",10} {"cli µs/req",10} {"srv cores",9} {"busy cores",10} {"validations",11} {"errors",6}");

    public static string Row(RowResult r) => Format(
        $"{r.Spec.Phase,-6} {r.Spec.Label,-78} {r.Workers,2} {r.Requests,8} {r.PerSecond,8:F0} {r.MeanMilliseconds,7:F3} {r.ServerCpuMicroseconds,10:F0} {r.ClientCpuMicroseconds,10:F0} {r.ServerCores,9:F2} {r.MachineCores,10:F2} {r.Validations,11} {r.Errors,6}");

    public static void Print(IReadOnlyList<RowResult> runs, IReadOnlyList<MicroResult> micro)
    {
        var results = runs.GroupBy(r => (r.Spec.Key, r.Workers)).Select(g => Aggregate.Of([.. g])).ToList();
        Console.WriteLine();
        Console.WriteLine("== medians over the rounds (range min-max) ==");
        Console.WriteLine(Format($"{"phase",-6} {"row",-78} {"W",2} {"runs",4} {"req/s",8} {"req/s range",13} {"srv µs/req",10} {"srv range",11} {"cli µs/req",10} {"errors",6}"));
        foreach (var r in results)
        {
            Console.WriteLine(Format($"{r.Spec.Phase,-6} {r.Spec.Label,-78} {r.Workers,2} {r.Runs,4} {r.PerSecond,8:F0} {r.MinPerSecond,6:F0}-{r.MaxPerSecond,-6:F0} {r.ServerCpuMicroseconds,10:F0} {r.MinServer,5:F0}-{r.MaxServer,-5:F0} {r.ClientCpuMicroseconds,10:F0} {r.Errors,6}"));
        }

        Console.WriteLine();
        Console.WriteLine("== comparisons (server CPU per request from /proc/PID/stat of the child; on 2 shared cores, rates are load-generator bound too) ==");
        foreach (var workers in results.Select(r => r.Workers).Distinct())
        {
            Aggregate? Find(string key) => results.FirstOrDefault(r => r.Spec.Key == key && r.Workers == workers);
            var a = Find("a");
            var b = Find("b");
            var c = Find("c");
            var d = Find("d");
            var open = Find("e-mtls");
            var authz = Find("f-authz");
            var plain = Find("e-plain");
            var mtls404 = Find("e-mtls-404");
            var plain404 = Find("e-plain-404");
            Console.WriteLine(Format($"-- {workers} worker(s)"));
            if (a is not null)
            {
                Console.WriteLine(Format($"full mTLS handshake per request (a): {a.PerSecond:F0} req/s, server {a.ServerCpuMicroseconds:F0} µs CPU per connection, client {a.ClientCpuMicroseconds:F0} µs"));
            }

            if (a is not null && b is not null)
            {
                Console.WriteLine(Format($"to localhost (b) vs 127.0.0.1 (a): rate x{b.PerSecond / a.PerSecond:F2}, server CPU/conn x{b.ServerCpuMicroseconds / a.ServerCpuMicroseconds:F2} ({b.ServerCpuMicroseconds - a.ServerCpuMicroseconds:+0;-0} µs): {(b.ServerCpuMicroseconds < 0.85 * a.ServerCpuMicroseconds ? "resumption is happening" : "no sign of resumption")}"));
            }

            if (a is not null && c is not null)
            {
                Console.WriteLine(Format($"RSA-2048 (c) vs ECDSA (a): rate x{c.PerSecond / a.PerSecond:F2}, server CPU/conn x{c.ServerCpuMicroseconds / a.ServerCpuMicroseconds:F2} ({c.ServerCpuMicroseconds:F0} vs {a.ServerCpuMicroseconds:F0} µs)"));
            }

            if (a is not null && d is not null)
            {
                Console.WriteLine(Format($"validation cache: before (d, off) {d.ServerCpuMicroseconds:F0} µs/conn, {d.PerSecond:F0} req/s; after (a, on) {a.ServerCpuMicroseconds:F0} µs/conn, {a.PerSecond:F0} req/s: saves {d.ServerCpuMicroseconds - a.ServerCpuMicroseconds:F0} µs per connection ({1 - (a.ServerCpuMicroseconds / d.ServerCpuMicroseconds):P0}), rate x{a.PerSecond / d.PerSecond:F2}"));
            }

            if (open is not null && plain is not null)
            {
                Console.WriteLine(Format($"keep-alive mTLS /api/ping-open vs plain /alive: rate x{open.PerSecond / plain.PerSecond:F2}, server {open.ServerCpuMicroseconds:F0} vs {plain.ServerCpuMicroseconds:F0} µs/req ({open.ServerCpuMicroseconds - plain.ServerCpuMicroseconds:+0;-0} µs)"));
            }

            if (mtls404 is not null && plain404 is not null)
            {
                Console.WriteLine(Format($"control, identical 404 work on both ports: mTLS {mtls404.ServerCpuMicroseconds:F0} vs plain {plain404.ServerCpuMicroseconds:F0} µs/req ({mtls404.ServerCpuMicroseconds - plain404.ServerCpuMicroseconds:+0;-0} µs = TLS record cost per request), rate x{mtls404.PerSecond / plain404.PerSecond:F2}"));
            }

            if (open is not null && authz is not null)
            {
                Console.WriteLine(Format($"identity + caller authorization (f): /api/ping {authz.ServerCpuMicroseconds:F0} vs /api/ping-open {open.ServerCpuMicroseconds:F0} µs/req ({authz.ServerCpuMicroseconds - open.ServerCpuMicroseconds:+0;-0} µs), rate x{authz.PerSecond / open.PerSecond:F2}"));
            }

            if (a is not null && authz is not null)
            {
                Console.WriteLine(Format($"new connection (a) vs keep-alive (f), same endpoint: server CPU x{a.ServerCpuMicroseconds / authz.ServerCpuMicroseconds:F1}, rate x{authz.PerSecond / a.PerSecond:F1} for keep-alive"));
            }

            foreach (var twin in results.Where(r => r.Workers == workers && r.Spec.Key.EndsWith(Program.TwinSuffix, StringComparison.Ordinal)))
            {
                if (Find(twin.Spec.Key[..^Program.TwinSuffix.Length]) is { } original)
                {
                    Console.WriteLine(Format($"--compare, {original.Spec.Key}: B {twin.ServerCpuMicroseconds:F0} vs A {original.ServerCpuMicroseconds:F0} µs/req server CPU (x{twin.ServerCpuMicroseconds / original.ServerCpuMicroseconds:F2}), rate x{twin.PerSecond / original.PerSecond:F2}"));
                }
            }
        }

        if (micro.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine("== in-process micro-measurements (parent process, one thread) ==");
            Console.WriteLine(Format($"{"operation",-66} {"iterations",10} {"µs/op",8} {"cpu µs/op",9}"));
            foreach (var m in micro)
            {
                Console.WriteLine(Format($"{m.Name,-66} {m.Iterations,10} {m.MicrosecondsPerOp,8:F2} {m.CpuMicrosecondsPerOp,9:F2}"));
            }
        }

        Console.WriteLine();
        Console.WriteLine("== Markdown ==");
        Console.WriteLine("| phase | row | workers | req/s (median, range) | ms/req | server CPU µs/req (median, range) | client CPU µs/req | server cores | machine busy cores | errors |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in results.OrderBy(r => r.Spec.Phase, StringComparer.Ordinal).ThenBy(r => r.Workers))
        {
            Console.WriteLine(Format($"| {r.Spec.Phase} | {r.Spec.Label} | {r.Workers} | {r.PerSecond:F0} ({r.MinPerSecond:F0}–{r.MaxPerSecond:F0}) | {r.MeanMilliseconds:F3} | {r.ServerCpuMicroseconds:F0} ({r.MinServer:F0}–{r.MaxServer:F0}) | {r.ClientCpuMicroseconds:F0} | {r.ServerCores:F2} | {r.MachineCores:F2} | {r.Errors} |"));
        }

        if (micro.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine("| in-process operation | µs/op | CPU µs/op |");
            Console.WriteLine("|---|---|---|");
            foreach (var m in micro)
            {
                Console.WriteLine(Format($"| {m.Name} | {m.MicrosecondsPerOp:F2} | {m.CpuMicrosecondsPerOp:F2} |"));
            }
        }
    }

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>The rounds of one row: the median of each figure, and the range of the two main ones.</summary>
    private sealed record Aggregate(RowSpec Spec, int Workers, int Runs, double PerSecond, double MinPerSecond, double MaxPerSecond, double MeanMilliseconds,
        double ServerCpuMicroseconds, double MinServer, double MaxServer, double ClientCpuMicroseconds, double ServerCores, double MachineCores, long Errors)
    {
        public static Aggregate Of(IReadOnlyList<RowResult> runs) => new(runs[0].Spec, runs[0].Workers, runs.Count,
            Median(runs, r => r.PerSecond), runs.Min(r => r.PerSecond), runs.Max(r => r.PerSecond), Median(runs, r => r.MeanMilliseconds),
            Median(runs, r => r.ServerCpuMicroseconds), runs.Min(r => r.ServerCpuMicroseconds), runs.Max(r => r.ServerCpuMicroseconds),
            Median(runs, r => r.ClientCpuMicroseconds), Median(runs, r => r.ServerCores), Median(runs, r => r.MachineCores), runs.Sum(r => r.Errors));

        private static double Median(IReadOnlyList<RowResult> runs, Func<RowResult, double> value)
        {
            var sorted = runs.Select(value).Order().ToArray();
            return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
        }
    }
}
