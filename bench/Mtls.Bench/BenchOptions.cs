using System.Globalization;

namespace MtlsAspire.Mtls.Bench;

/// <summary>The command line of the load-generating (parent) mode.</summary>
internal sealed record BenchOptions
{
    public const string Usage = """
        usage: Mtls.Bench [--duration S] [--warmup S] [--rounds R] [--server-warmup S] [--workers LIST] [--phases LIST]
                          [--micro-iterations N] [--compare NAME=VALUE,...] [--no-pin] [--dir DIR]
               Mtls.Bench server --credentials DIR --port-file FILE      (the child mode the benchmark starts itself)
          --duration S          measured seconds per row (default 3, at most 10)
          --warmup S            unmeasured seconds before each row, same load (default 1)
          --rounds R            run every row R times, interleaved; the report gives the median and the range (default 3)
          --server-warmup S     unmeasured mixed load after each server child starts (default 20: tier-1 JIT)
          --workers LIST        client worker counts for every row (default 1,2)
          --phases LIST         any of a,b,c,d,e,f,micro (default all): a new-connection ECDSA by IP, b by host name
                                (TLS resumption), c RSA-2048, d validation cache off, e keep-alive mTLS vs plain HTTP,
                                f keep-alive with vs without caller authorization, micro in-process identity costs
          --micro-iterations N  iterations of each in-process micro-measurement (default 20000)
          --compare NAME=VALUE,...
                                also start a twin B of the main ECDSA server with these environment variables and run
                                each of its rows (a, b, e, f) right after the same row of A: an A/B of a setting
          --no-pin              do not pin the server child to CPU 0 and the load generator to CPU 1 (default: pinned
                                when there are at least 2 CPUs and taskset exists)
          --dir DIR             where the temporary PKIs are created (default the system temp directory)
        """;

    public static readonly string[] AllPhases = ["a", "b", "c", "d", "e", "f", "micro"];

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(3);

    public int Rounds { get; init; } = 3;

    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Long enough for tiered compilation to reach tier-1 code on the one CPU the pinned child has: with 3 s, rows measured
    /// the JIT still compiling (up to ~10 % of the child's CPU) and tier-0 code.
    /// </summary>
    public TimeSpan ServerWarmup { get; init; } = TimeSpan.FromSeconds(20);

    public IReadOnlyList<int> Workers { get; init; } = [1, 2];

    public IReadOnlySet<string> Phases { get; init; } = new HashSet<string>(AllPhases, StringComparer.Ordinal);

    public int MicroIterations { get; init; } = 20_000;

    public string? BaseDirectory { get; init; }

    public bool Pin { get; init; } = true;

    /// <summary>The environment of the <c>--compare</c> twin (empty: no twin).</summary>
    public IReadOnlyDictionary<string, string> Compare { get; init; } = new Dictionary<string, string>();

    public bool Runs(string phase) => Phases.Contains(phase);

    /// <summary>Parses <paramref name="args"/>; throws <see cref="ArgumentException"/> naming the bad argument.</summary>
    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var options = new BenchOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            switch (name)
            {
                case "--duration":
                    options = options with { Duration = Seconds(name, Value(), 0.5, 10) };
                    break;
                case "--rounds":
                    options = options with { Rounds = Positive(name, Value()) };
                    break;
                case "--warmup":
                    options = options with { Warmup = Seconds(name, Value(), 0, 10) };
                    break;
                case "--server-warmup":
                    options = options with { ServerWarmup = Seconds(name, Value(), 0, 30) };
                    break;
                case "--workers":
                    options = options with { Workers = [.. Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(w => Positive(name, w))] };
                    break;
                case "--phases":
                    var phases = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    if (phases.FirstOrDefault(p => !AllPhases.Contains(p)) is { } unknown)
                    {
                        throw new ArgumentException($"--phases: unknown phase '{unknown}' (known: {string.Join(",", AllPhases)}).");
                    }

                    options = options with { Phases = new HashSet<string>(phases, StringComparer.Ordinal) };
                    break;
                case "--micro-iterations":
                    options = options with { MicroIterations = Positive(name, Value()) };
                    break;
                case "--compare":
                    options = options with { Compare = Environment(name, Value()) };
                    break;
                case "--no-pin":
                    options = options with { Pin = false };
                    break;
                case "--dir":
                    options = options with { BaseDirectory = Value() };
                    break;
                default:
                    throw new ArgumentException($"Unknown argument '{name}'.");
            }
        }

        if (options.Workers.Count == 0)
        {
            throw new ArgumentException("--workers needs at least one worker count.");
        }

        return options;
    }

    private static Dictionary<string, string> Environment(string name, string value)
    {
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = pair.Split('=', 2);
            if (parts.Length != 2 || parts[0].Length == 0)
            {
                throw new ArgumentException($"{name} takes NAME=VALUE pairs separated by commas, not '{pair}'.");
            }

            variables[parts[0]] = parts[1];
        }

        return variables.Count > 0 ? variables : throw new ArgumentException($"{name} needs at least one NAME=VALUE.");
    }

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{name} must be a positive integer, not '{value}'.");

    private static TimeSpan Seconds(string name, string value, double min, double max) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s >= min && s <= max
            ? TimeSpan.FromSeconds(s)
            : throw new ArgumentException($"{name} must be a number of seconds from {min} to {max}, not '{value}'.");
}
