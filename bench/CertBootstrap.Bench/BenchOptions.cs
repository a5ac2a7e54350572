using System.Globalization;
using MtlsAspire.Verification.Certificates;

namespace MtlsAspire.CertBootstrap.Bench;

/// <summary>The command line of the benchmark.</summary>
internal sealed record BenchOptions
{
    public const string Usage = """
        usage: CertBootstrap.Bench [--count N] [--key-type ecdsa-p256|rsa-2048] [--parallel P] [--services S] [--batch B]
                                   [--warmup W] [--breakdown-count B] [--no-breakdown] [--dir DIR]
                                   [--fleet] [--fleet-identities I] [--fleet-hours H] [--crl-entries E]
          --count N            measured issuances (default 2000 for ecdsa-p256, 300 for rsa-2048)
          --batch B            issue in batches of B with IssueMany (default: one at a time with Issue)
          --key-type T         key type of the whole PKI and of every leaf (default ecdsa-p256)
          --parallel P         concurrent workers, each with its own CertificateAuthority.Open (default 1)
          --services S         service names the issuances are spread over: svc-0001..svc-S (default 50)
          --warmup W           issuances before measuring (default 50)
          --breakdown-count B  iterations of each single-threaded component loop (default N)
          --no-breakdown       only the end-to-end issuance run
          --dir DIR            where the temporary PKI is created (default the system temp directory)
          --fleet              also simulate a fleet on a virtual clock: I identities on 1 h leaves renewing at 2/3 of
                               their lifetime with jitter, issued for real for H simulated hours
          --fleet-identities I identities of the fleet simulation (default 10000)
          --fleet-hours H      simulated hours after the initial rollout (default 2)
          --crl-entries E      also time a CRL of E revoked serials: signing, loading, per-lookup cost
        The last line is always: issuance: leaves/s=<n> mode=<batch B|single> parallel=<P> dir=<file system>
        """;

    public int Count { get; init; }

    public KeyType KeyType { get; init; } = KeyType.EcdsaP256;

    public int Parallel { get; init; } = 1;

    public int Services { get; init; } = 50;

    public int Warmup { get; init; } = 50;

    public int BreakdownCount { get; init; }

    public bool Breakdown { get; init; } = true;

    public string? BaseDirectory { get; init; }

    /// <summary>Leaves per <see cref="Authority.CertificateAuthority.IssueMany"/> call; null for one <c>Issue</c> at a time.</summary>
    public int? Batch { get; init; }

    public bool Fleet { get; init; }

    public int FleetIdentities { get; init; } = 10_000;

    public double FleetHours { get; init; } = 2;

    public int? CrlEntries { get; init; }

    /// <summary>Parses <paramref name="args"/>; throws <see cref="ArgumentException"/> naming the bad argument.</summary>
    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        int? count = null;
        int? breakdownCount = null;
        int? services = null;
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
                    services = Positive(name, Value());
                    break;
                case "--batch":
                    options = options with { Batch = Positive(name, Value()) };
                    break;
                case "--fleet":
                    options = options with { Fleet = true };
                    break;
                case "--fleet-identities":
                    options = options with { FleetIdentities = Positive(name, Value()) };
                    break;
                case "--fleet-hours":
                    options = options with { FleetHours = Positive(name, Value()) };
                    break;
                case "--crl-entries":
                    options = options with { CrlEntries = Positive(name, Value()) };
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

        // A batch publishes each service directory once, and workers never share one: every batch of every worker
        // needs its own services.
        var needed = (options.Batch ?? 1) * options.Parallel;
        options = options with { Services = services ?? RoundUp(Math.Max(options.Services, needed), options.Parallel) };
        if (options.Services < needed)
        {
            throw new ArgumentException($"--services {options.Services} is too few for --batch {options.Batch} with --parallel {options.Parallel}: give at least {needed}.");
        }

        if (options.Batch is not null && options.Services % options.Parallel != 0)
        {
            // Two workers' batches holding each other's directory locks would wait for each other.
            throw new ArgumentException($"With --batch, --services ({options.Services}) must be a multiple of --parallel ({options.Parallel}).");
        }

        if (options.Services > 9999)
        {
            throw new ArgumentException("--services must be at most 9999.");
        }

        var resolvedCount = count ?? (options.KeyType == KeyType.Rsa2048 ? 300 : 2000);
        return options with { Count = resolvedCount, BreakdownCount = breakdownCount ?? resolvedCount };
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{name} must be a positive integer, not '{value}'.");

    private static int NonNegative(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new ArgumentException($"{name} must be a non-negative integer, not '{value}'.");
}
