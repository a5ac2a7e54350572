using System.Globalization;
using MtlsAspire.Verification.Certificates;

namespace MtlsAspire.CertBootstrap.Bench;

/// <summary>The command line of the benchmark.</summary>
internal sealed record BenchOptions
{
    public const string Usage = """
        usage: CertBootstrap.Bench [--count N] [--key-type ecdsa-p256|rsa-2048] [--parallel P] [--services S]
                                   [--warmup W] [--breakdown-count B] [--no-breakdown] [--dir DIR]
          --count N            measured issuances (default 2000 for ecdsa-p256, 300 for rsa-2048)
          --key-type T         key type of the whole PKI and of every leaf (default ecdsa-p256)
          --parallel P         concurrent workers, each with its own CertificateAuthority.Open (default 1)
          --services S         service names the issuances are spread over: svc-0001..svc-S (default 50)
          --warmup W           issuances before measuring (default 50)
          --breakdown-count B  iterations of each single-threaded component loop (default N)
          --no-breakdown       only the end-to-end issuance run
          --dir DIR            where the temporary PKI is created (default the system temp directory)
        """;

    public int Count { get; init; }

    public KeyType KeyType { get; init; } = KeyType.EcdsaP256;

    public int Parallel { get; init; } = 1;

    public int Services { get; init; } = 50;

    public int Warmup { get; init; } = 50;

    public int BreakdownCount { get; init; }

    public bool Breakdown { get; init; } = true;

    public string? BaseDirectory { get; init; }

    /// <summary>Parses <paramref name="args"/>; throws <see cref="ArgumentException"/> naming the bad argument.</summary>
    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        int? count = null;
        int? breakdownCount = null;
        var options = new BenchOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            switch (name)
            {
                case "--count":
                    count = Positive(name, Value());
                    break;
                case "--key-type":
                    options = options with { KeyType = KeyTypeNames.Parse(Value()) };
                    break;
                case "--parallel":
                    options = options with { Parallel = Positive(name, Value()) };
                    break;
                case "--services":
                    options = options with { Services = Positive(name, Value()) };
                    break;
                case "--warmup":
                    options = options with { Warmup = NonNegative(name, Value()) };
                    break;
                case "--breakdown-count":
                    breakdownCount = Positive(name, Value());
                    break;
                case "--no-breakdown":
                    options = options with { Breakdown = false };
                    break;
                case "--dir":
                    options = options with { BaseDirectory = Value() };
                    break;
                default:
                    throw new ArgumentException($"Unknown argument '{name}'.");
            }
        }

        if (options.Services > 9999)
        {
            throw new ArgumentException("--services must be at most 9999.");
        }

        var resolvedCount = count ?? (options.KeyType == KeyType.Rsa2048 ? 300 : 2000);
        return options with { Count = resolvedCount, BreakdownCount = breakdownCount ?? resolvedCount };
    }

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{name} must be a positive integer, not '{value}'.");

    private static int NonNegative(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new ArgumentException($"{name} must be a non-negative integer, not '{value}'.");
}
