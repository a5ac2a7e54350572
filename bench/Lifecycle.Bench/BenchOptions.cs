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
        """;

    public TimeSpan Steady { get; init; } = TimeSpan.FromSeconds(20);

    public int Workers { get; init; } = 4;

    public int? NewConnectionWorkers { get; init; }

    public int Revocations { get; init; } = 20;

    public string RevokedService { get; init; } = "payment";

    public int ChargeEvery { get; init; } = 16;

    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(2);

    public string? BaseDirectory { get; init; }

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

    private static double Number(string name, string value, double min, double max) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{name} must be a number from {min} to {max}, not '{value}'.");
}
