using System.Globalization;

namespace MtlsAspire.MtlsLoad;

/// <summary>How each worker connects.</summary>
public enum ConnectionMode
{
    /// <summary>One connection per worker, opened once and reused for every request (HTTP/1.1 keep-alive).</summary>
    KeepAlive,

    /// <summary>A new TCP (and TLS) connection per request, closed after the response: one handshake per request.</summary>
    New,
}

/// <summary>The command line of one load run (see <see cref="Usage"/>).</summary>
public sealed record LoadOptions
{
    public const string Usage = """
        usage: MtlsLoad --url URL [options]            drive URL and print one "result …" line
               MtlsLoad free-port                      print a free loopback TCP port
               MtlsLoad strangers --url URL --ca FILE  strangers' handshakes with oversized chains (see Strangers.cs)
          --url URL            http:// or https:// URL to GET (https: TLS 1.3, the server is validated)
          --ca FILE            PEM roots the server's chain must build to (https; required)
          --cert FILE          PEM chain to present: leaf first, then intermediates (mTLS)
          --key FILE           PEM private key of the leaf (with --cert)
          --tls-host NAME      TLS server name (SNI and name check) if not the URL's host. A host name
                               lets the .NET client resume TLS 1.3 sessions; an IP literal never resumes
          --connect ADDRESS    connect to this IP instead of resolving the URL's host (default: the host)
          --from ADDRESS       the load's source address: its sockets are bound to it (e.g. 127.0.0.1)
          --mode M             keepalive (default) or new (one connection per request)
          --connections N      concurrent connections (workers), default 16
          --duration S         measured seconds, default 5
          --warmup S           unmeasured seconds of the same load first, default 1
          --steady MAX         then warm on until the CPU per request is steady (the --pid and --upstream-pid
                               processes' and this one's, summed): 5 s windows, until the last three are
                               within 5 % of each other, at most MAX seconds (JIT tiering takes 20-120 s on
                               one pinned CPU). Prints every window
          --expect CODE        status every response must have, default 200
          --header 'N: V'      extra request header (repeatable)
          --pid PID            process under test: its CPU (utime+stime, /proc) per request (repeatable, summed)
          --upstream-pid PID   a process behind the one under test (an upstream), reported apart (repeatable)
          --alloc-probe PATH   the Unix socket of bench/ProcessProbe in the .NET process under test: its
                               allocated bytes are read at the start and end of the measured seconds
          --label TEXT         label printed in the result line
          --flood RATE         meanwhile, RATE bad handshakes a second (warm-up included), each a new
                               connection, round robin over --flood-kinds; counted apart from the load
          --flood-kinds LIST   of garbage (64 random bytes), rogue (a certificate of a CA made at start,
                               claiming --flood-claim), none (no certificate); default all three
          --flood-claim ID     the SPIFFE ID the rogue certificate claims
                               (default spiffe://mtls-aspire.local/ns/development/sa/order)
          --flood-from ADDRESS the flood's source address (on Linux any 127.x.y.z is loopback: e.g. 127.0.0.2,
                               so that the server sees the flood and the load come from different addresses)
          --flood-only         no load: only the flood, for --warmup plus --duration seconds (a flood process
                               of its own, to run at a lower priority than the load's, e.g. under nice)
        """;

    public required Uri Url { get; init; }

    public string? CaFile { get; init; }

    public string? CertFile { get; init; }

    public string? KeyFile { get; init; }

    public string? TlsHost { get; init; }

    public string? Connect { get; init; }

    public ConnectionMode Mode { get; init; } = ConnectionMode.KeepAlive;

    public int Connections { get; init; } = 16;

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>At most this long more warm-up, until the CPU per request of every measured process is steady; zero: none.</summary>
    public TimeSpan Steady { get; init; }

    public int Expect { get; init; } = 200;

    public IReadOnlyList<string> Headers { get; init; } = [];

    public IReadOnlyList<int> Pids { get; init; } = [];

    public IReadOnlyList<int> UpstreamPids { get; init; } = [];

    /// <summary>The Unix socket of the process under test's allocation probe (bench/ProcessProbe), or null.</summary>
    public string? AllocationProbe { get; init; }

    public string Label { get; init; } = "load";

    /// <summary>Bad handshakes a second alongside the load (0: none).</summary>
    public double FloodRate { get; init; }

    public IReadOnlyList<FloodKind> FloodKinds { get; init; } = Enum.GetValues<FloodKind>();

    public string FloodClaim { get; init; } = "spiffe://mtls-aspire.local/ns/development/sa/order";

    /// <summary>The source address the load's sockets are bound to (null: the system's choice).</summary>
    public System.Net.IPAddress? From { get; init; }

    /// <summary>The source address the flood's sockets are bound to (null: the system's choice).</summary>
    public System.Net.IPAddress? FloodFrom { get; init; }

    /// <summary>Only the flood, no load.</summary>
    public bool FloodOnly { get; init; }

    public bool Tls => Url.Scheme == Uri.UriSchemeHttps;

    public static LoadOptions Parse(IReadOnlyList<string> args)
    {
        Uri? url = null;
        string? ca = null, cert = null, key = null, tlsHost = null, connect = null, label = null, allocationProbe = null;
        var mode = ConnectionMode.KeepAlive;
        int connections = 16, expect = 200;
        double duration = 5, warmup = 1, steady = 0, floodRate = 0;
        var floodKinds = Enum.GetValues<FloodKind>();
        string floodClaim = "spiffe://mtls-aspire.local/ns/development/sa/order";
        System.Net.IPAddress? from = null, floodFrom = null;
        var floodOnly = false;
        var headers = new List<string>();
        var pids = new List<int>();
        var upstreamPids = new List<int>();
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            switch (name)
            {
                case "--url":
                    url = Uri.TryCreate(Value(), UriKind.Absolute, out var parsed) && (parsed.Scheme == Uri.UriSchemeHttp || parsed.Scheme == Uri.UriSchemeHttps)
                        ? parsed : throw new ArgumentException($"--url '{args[i]}' is not an http:// or https:// URL.");
                    break;
                case "--ca": ca = Value(); break;
                case "--cert": cert = Value(); break;
                case "--key": key = Value(); break;
                case "--tls-host": tlsHost = Value(); break;
                case "--connect": connect = Value(); break;
                case "--label": label = Value(); break;
                case "--header": headers.Add(Value()); break;
                case "--mode":
                    mode = Value() switch
                    {
                        "keepalive" => ConnectionMode.KeepAlive,
                        "new" => ConnectionMode.New,
                        var other => throw new ArgumentException($"--mode '{other}': use keepalive or new."),
                    };
                    break;
                case "--connections": connections = Positive(name, Value()); break;
                case "--expect": expect = Positive(name, Value()); break;
                case "--pid": pids.Add(Positive(name, Value())); break;
                case "--upstream-pid": upstreamPids.Add(Positive(name, Value())); break;
                case "--alloc-probe": allocationProbe = Value(); break;
                case "--duration": duration = Seconds(name, Value()); break;
                case "--warmup": warmup = Seconds(name, Value(), allowZero: true); break;
                case "--steady": steady = Seconds(name, Value()); break;
                case "--flood":
                    floodRate = double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out var rate) && rate > 0 && rate <= 10_000
                        ? rate : throw new ArgumentException($"--flood '{args[i]}' is not a rate between 0 and 10000 a second.");
                    break;
                case "--flood-kinds":
                    floodKinds = [.. Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(kind =>
                        Enum.TryParse<FloodKind>(kind, ignoreCase: true, out var parsedKind) && kind.All(char.IsLetter)
                            ? parsedKind : throw new ArgumentException($"--flood-kinds: '{kind}' is not garbage, rogue or none."))];
                    break;
                case "--flood-claim": floodClaim = Value(); break;
                case "--from": from = Address(name, Value()); break;
                case "--flood-from": floodFrom = Address(name, Value()); break;
                case "--flood-only": floodOnly = true; break;
                default: throw new ArgumentException($"unknown argument '{name}'.");
            }
        }

        if (url is null)
        {
            throw new ArgumentException("--url is required.");
        }

        if (url.Scheme == Uri.UriSchemeHttps && ca is null)
        {
            throw new ArgumentException("--ca is required for https: the server is always validated.");
        }

        if (floodRate > 0 && (url.Scheme != Uri.UriSchemeHttps || floodKinds.Length == 0))
        {
            throw new ArgumentException("--flood needs an https:// URL and at least one kind.");
        }

        if (floodOnly && floodRate <= 0)
        {
            throw new ArgumentException("--flood-only needs --flood RATE.");
        }

        if ((cert is null) != (key is null))
        {
            throw new ArgumentException("--cert and --key go together.");
        }

        return new LoadOptions
        {
            Url = url, CaFile = ca, CertFile = cert, KeyFile = key, TlsHost = tlsHost, Connect = connect, Mode = mode,
            Connections = connections, Duration = TimeSpan.FromSeconds(duration), Warmup = TimeSpan.FromSeconds(warmup), Steady = TimeSpan.FromSeconds(steady), Expect = expect,
            Headers = headers, Pids = pids, UpstreamPids = upstreamPids, AllocationProbe = allocationProbe, Label = label ?? "load",
            FloodRate = floodRate, FloodKinds = floodKinds, FloodClaim = floodClaim, From = from, FloodFrom = floodFrom, FloodOnly = floodOnly,
        };
    }

    private static System.Net.IPAddress Address(string name, string value) =>
        System.Net.IPAddress.TryParse(value, out var address) ? address : throw new ArgumentException($"{name} '{value}' is not an IP address.");

    private static int Positive(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new ArgumentException($"{name} '{value}' is not a positive integer.");

    private static double Seconds(string name, string value, bool allowZero = false) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && (s > 0 || (allowZero && s == 0)) && s <= 600
            ? s : throw new ArgumentException($"{name} '{value}' is not a number of seconds (0–600).");
}
