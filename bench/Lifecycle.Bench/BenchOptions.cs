using System.Globalization;

namespace MtlsAspire.Lifecycle.Bench;

/// <summary>The command line.</summary>
internal sealed record BenchOptions
{
    public const string Usage = """
        usage: Lifecycle.Bench [--steady S] [--workers N] [--new-connection-workers M] [--revocations R]
                               [--revoke SERVICE] [--charge-every K] [--settle S] [--dir DIR]
          --steady S                  seconds of the steady-state phase (default 20)
          --workers N                 concurrent load workers (default 4)
          --new-connection-workers M  how many of them send Connection: close, so every request is a new TLS
                                      connection (default N/2); the others reuse pooled keep-alive connections
          --revocations R             revocation-to-refusal measurements (default 20; 0 skips them)
          --revoke SERVICE            whose certificate is revoked each time (default payment)
          --charge-every K            every K-th order is charged (recorded by the ledger through legacy-proxy, and
                                      takes one unit of stock for good); the others are declined by payment and
                                      their reservation released (default 16: the app's 2,000 units last the run)
          --settle S                  seconds of load after each rotation's end condition, counted in its phase (default 2)
          --dir DIR                   where the temporary state directory is created (default the system temp
                                      directory); it is deleted at the end
        usage: Lifecycle.Bench --latency|--telemetry [--variants LIST] [--rounds R] [--orders N] [--warmup N] [--loaded S]
                               [--workers N] [--charge-every K] [--dir DIR]
          --latency                   one order's latency and CPU instead of the lifecycle phases: per variant a fresh
                                      app, N sequential charged orders (1 worker, one pooled connection), then S
                                      seconds of N workers on pooled connections
          --variants LIST             comma-separated, run back to back in this order (default default,no-telemetry,direct;
                                      also quiet): default = DCP-proxied endpoints, telemetry to the dashboard, default
                                      logs; no-telemetry = OTEL_SDK_DISABLED=true; direct = MtlsAspire:ProxiedEndpoints=false;
                                      quiet = no telemetry and no ASP.NET Core per-request Information logs
          --telemetry                 --latency --variants default,no-telemetry: what telemetry costs per order (the
                                      services' CPU with OTLP export and logging as under the AppHost, then with
                                      OTEL_SDK_DISABLED=true, back to back; the ratio is printed last but one)
          --rounds R                  how many times the whole list runs (default 1)
          --orders N                  sequential orders, every one charged (default 1500; at most 1700: 2,000 units)
          --warmup N                  unmeasured sequential orders first, every 4th charged (default 200)
          --loaded S                  seconds of the loaded run (default 15; --workers, --charge-every apply)
        usage: Lifecycle.Bench --soak MINUTES [--renew-every S] [--rotate-every S] [--sample-every S] [--out DIR]
                               [--counters PATH] [--gcdump PATH] [--workers N] [--new-connection-workers M] [--charge-every K] [--dir DIR]
          --soak MINUTES              the app as `dotnet run` runs it (dashboard, telemetry), load for MINUTES, every leaf
                                      renewed every --renew-every seconds (default 60) and the intermediate rotated every
                                      --rotate-every seconds (default 600, in place of that minute's renewal); every
                                      --sample-every seconds (default 10) each service's RSS, file descriptors, sockets
                                      and threads from /proc, and with --counters its managed heap and mTLS caches
          --out DIR                   samples.csv, events.csv, summary.md and soak.svg are written there (default soak-out)
          --counters PATH             dotnet-counters, run once per service process (bench/soak.sh installs it)
          --gcdump PATH               dotnet-gcdump: each service's live heap after a full GC, after the warm-up and at the end
        """;

    public TimeSpan Steady { get; init; } = TimeSpan.FromSeconds(20);

    public int Workers { get; init; } = 4;

    public int? NewConnectionWorkers { get; init; }

    public int Revocations { get; init; } = 20;

    public string RevokedService { get; init; } = "payment";

    public int ChargeEvery { get; init; } = 16;

    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(2);

    public string? BaseDirectory { get; init; }

    public bool Latency { get; init; }

    public IReadOnlyList<AppSetup> Variants { get; init; } = [.. AppSetup.Variants.Take(3)];

    public int Rounds { get; init; } = 1;

    public int Orders { get; init; } = 1500;

    public int Warmup { get; init; } = 200;

    public TimeSpan Loaded { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan? Soak { get; init; }

    public TimeSpan RenewEvery { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan RotateEvery { get; init; } = TimeSpan.FromSeconds(600);

    public TimeSpan SampleEvery { get; init; } = TimeSpan.FromSeconds(10);

    public string Out { get; init; } = "soak-out";

    public string? Counters { get; init; }

    public string? GcDump { get; init; }

    public int ClosingWorkers => NewConnectionWorkers ?? Workers / 2;

    /// <summary>Parses <paramref name="args"/>; throws <see cref="ArgumentException"/> naming the bad argument.</summary>
    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var options = new BenchOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            options = name switch
            {
                "--steady" => options with { Steady = TimeSpan.FromSeconds(Number(name, Value(), 1, 600)) },
                "--workers" => options with { Workers = (int)Number(name, Value(), 1, 64) },
                "--new-connection-workers" => options with { NewConnectionWorkers = (int)Number(name, Value(), 0, 64) },
                "--revocations" => options with { Revocations = (int)Number(name, Value(), 0, 200) },
                "--revoke" => options with { RevokedService = Value() },
                "--charge-every" => options with { ChargeEvery = (int)Number(name, Value(), 1, 1_000_000) },
                "--settle" => options with { Settle = TimeSpan.FromSeconds(Number(name, Value(), 0, 60)) },
                "--dir" => options with { BaseDirectory = Value() },
                "--latency" => options with { Latency = true },
                "--telemetry" => options with { Latency = true, Variants = [.. AppSetup.Variants.Take(2)] },
                "--variants" => options with { Variants = ParseVariants(Value()) },
                "--rounds" => options with { Rounds = (int)Number(name, Value(), 1, 20) },
                "--orders" => options with { Orders = (int)Number(name, Value(), 1, 1700) },
                "--warmup" => options with { Warmup = (int)Number(name, Value(), 0, 1000) },
                "--loaded" => options with { Loaded = TimeSpan.FromSeconds(Number(name, Value(), 0, 600)) },
                "--soak" => options with { Soak = TimeSpan.FromMinutes(Number(name, Value(), 1, 24 * 60)) },
                "--renew-every" => options with { RenewEvery = TimeSpan.FromSeconds(Number(name, Value(), 10, 3600)) },
                "--rotate-every" => options with { RotateEvery = TimeSpan.FromSeconds(Number(name, Value(), 10, 24 * 3600)) },
                "--sample-every" => options with { SampleEvery = TimeSpan.FromSeconds(Number(name, Value(), 1, 600)) },
                "--out" => options with { Out = Value() },
                "--counters" => options with { Counters = Value() },
                "--gcdump" => options with { GcDump = Value() },
                "-h" or "--help" => throw new ArgumentException(string.Empty),
                _ => throw new ArgumentException($"unknown argument '{name}'."),
            };
        }

        if (options.ClosingWorkers > options.Workers)
        {
            throw new ArgumentException("--new-connection-workers cannot exceed --workers.");
        }

        return options;
    }

    private static List<AppSetup> ParseVariants(string list) =>
        [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(name =>
            AppSetup.Variants.FirstOrDefault(v => v.Name == name)
            ?? throw new ArgumentException($"--variants: unknown variant '{name}' (known: {string.Join(", ", AppSetup.Variants.Select(v => v.Name))})."))];

    private static double Number(string name, string value, double min, double max) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{name} must be a number from {min} to {max}, not '{value}'.");
}
