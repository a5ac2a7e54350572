using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using HdrHistogram;

namespace MtlsAspire.MtlsLoad;

/// <summary>What one run measured over its measured seconds.</summary>
public sealed record LoadResult(string Label, ConnectionMode Mode, int Connections, long Requests, long Errors, string? FirstError, TimeSpan Elapsed,
    LongHistogram Latency, TimeSpan ServerCpu, TimeSpan UpstreamCpu, TimeSpan ClientCpu, TimeSpan MachineBusy, long Handshakes, int Pids, int UpstreamPids,
    TimeSpan Warmed, bool? Steady, FloodResult? Flood = null)
{
    /// <summary>Bytes the process under test allocated over the measured seconds (null: no --alloc-probe).</summary>
    public long? AllocatedBytes { get; init; }

    /// <summary>Voluntary and involuntary context switches of the processes under test over the measured seconds.</summary>
    public (long Voluntary, long Involuntary) ContextSwitches { get; init; }

    public double AllocatedBytesPerRequest => Requests == 0 || AllocatedBytes is null ? double.NaN : (double)AllocatedBytes.Value / Requests;

    public double ContextSwitchesPerRequest => Requests == 0 || Pids == 0 ? double.NaN : (double)(ContextSwitches.Voluntary + ContextSwitches.Involuntary) / Requests;

    public double PerSecond => Requests / Elapsed.TotalSeconds;

    public double ServerCpuMicroseconds => Requests == 0 || Pids == 0 ? double.NaN : ServerCpu.TotalMicroseconds / Requests;

    public double UpstreamCpuMicroseconds => Requests == 0 || UpstreamPids == 0 ? double.NaN : UpstreamCpu.TotalMicroseconds / Requests;

    public double ClientCpuMicroseconds => Requests == 0 ? double.NaN : ClientCpu.TotalMicroseconds / Requests;

    /// <summary>Latency percentile in microseconds (HdrHistogram, 3 significant digits).</summary>
    public double Percentile(double percentile) => Latency.TotalCount == 0 ? double.NaN : Latency.GetValueAtPercentile(percentile);

    /// <summary>One line of <c>key=value</c> pairs for scripts (no spaces inside values but the label's, which has none by convention).</summary>
    public string ToResultLine() => string.Create(CultureInfo.InvariantCulture,
        $"result label={Label} mode={(Mode == ConnectionMode.New ? "new" : "keepalive")} connections={Connections} requests={Requests} errors={Errors} " +
        $"seconds={Elapsed.TotalSeconds:F2} rps={PerSecond:F0} p50_us={Percentile(50):F0} p99_us={Percentile(99):F0} p999_us={Percentile(99.9):F0} " +
        $"max_us={(Latency.TotalCount == 0 ? double.NaN : Latency.GetMaxValue()):F0} server_cpu_us={ServerCpuMicroseconds:F1} upstream_cpu_us={UpstreamCpuMicroseconds:F1} client_cpu_us={ClientCpuMicroseconds:F1} " +
        $"alloc_bytes={AllocatedBytesPerRequest:F0} cs={ContextSwitchesPerRequest:F2} vcs={(Requests == 0 ? double.NaN : (double)ContextSwitches.Voluntary / Requests):F2} " +
        $"ivcs={(Requests == 0 ? double.NaN : (double)ContextSwitches.Involuntary / Requests):F2} busy_cores={MachineBusy / Elapsed:F2} handshakes={Handshakes} warm_s={Warmed.TotalSeconds:F0} steady={(Steady switch { true => "yes", false => "no", null => "n/a" })}") +
        (Flood is null ? "" : " " + Flood.ToResultFields());
}

/// <summary>
/// The load generator: N workers, each on its own connection (kept alive, or a new one per request), GET one URL back
/// to back. Over TLS it presents the client chain (leaf and intermediates, <see cref="SslStreamCertificateContext"/>)
/// and validates the server for real: TLS 1.3, the chain must build to the given roots with serverAuth, and the name
/// must match. CPU of the processes under test comes from /proc, latency goes into an HDR histogram.
/// </summary>
public sealed class LoadRun
{
    private const int Warming = 0, Measuring = 1, Stopping = 2;

    /// <summary>The histogram's range: 1 µs to 1 min.</summary>
    private const long HighestMicroseconds = 60_000_000;

    private readonly LoadOptions _options;
    private readonly IPEndPoint _endpoint;
    private readonly SslClientAuthenticationOptions? _tls;
    private readonly byte[] _request;
    private int _phase = Warming;
    private long _handshakes;
    private long _answered;
    private long _errors;
    private string? _firstError;

    public LoadRun(LoadOptions options)
    {
        _options = options;
        var address = options.Connect ?? options.Url.Host;
        _endpoint = new IPEndPoint(IPAddress.TryParse(address.Trim('[', ']'), out var ip) ? ip : Dns.GetHostAddresses(address)[0], options.Url.Port);
        _tls = options.Tls ? TlsOptions(options) : null;
        var request = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"GET {options.Url.PathAndQuery} HTTP/1.1\r\nHost: {options.Url.Authority}\r\nUser-Agent: MtlsLoad\r\n");
        foreach (var header in options.Headers)
        {
            request.Append(header).Append("\r\n");
        }

        if (options.Mode == ConnectionMode.New)
        {
            request.Append("Connection: close\r\n");
        }

        _request = Encoding.ASCII.GetBytes(request.Append("\r\n").ToString());
    }

    /// <summary>Only the flood (<see cref="LoadOptions.FloodOnly"/>), for the warm-up and measured seconds together.</summary>
    public async Task<FloodResult> FloodOnlyAsync()
    {
        using var flood = new Flood(_endpoint, _options.FloodFrom, _options.FloodRate, _options.FloodKinds, _tls!, _options.FloodClaim, _options.Url);
        using var stop = new CancellationTokenSource(_options.Warmup + _options.Duration);
        return await flood.RunAsync(stop.Token).ConfigureAwait(false);
    }

    public async Task<LoadResult> RunAsync()
    {
        var histograms = Enumerable.Range(0, _options.Connections).Select(_ => new LongHistogram(HighestMicroseconds, 3)).ToArray();
        using var stop = new CancellationTokenSource();
        var workers = histograms.Select(histogram => Task.Run(() => WorkAsync(histogram, stop.Token))).ToArray();
        using var flood = _options.FloodRate > 0 ? new Flood(_endpoint, _options.FloodFrom, _options.FloodRate, _options.FloodKinds, _tls!, _options.FloodClaim, _options.Url) : null;
        using var stopFlood = new CancellationTokenSource();
        var flooding = flood?.RunAsync(stopFlood.Token);

        var warming = Stopwatch.StartNew();
        await Task.Delay(_options.Warmup).ConfigureAwait(false);
        bool? steady = _options.Steady > TimeSpan.Zero ? await WarmUntilSteadyAsync().ConfigureAwait(false) : null;
        var warmed = warming.Elapsed;

        var before = Snapshot(start: true);
        var handshakes0 = Interlocked.Read(ref _handshakes);
        var stopwatch = Stopwatch.StartNew();
        Volatile.Write(ref _phase, Measuring);

        await Task.Delay(_options.Duration).ConfigureAwait(false);
        Volatile.Write(ref _phase, Stopping);
        var elapsed = stopwatch.Elapsed;
        var after = Snapshot(start: false);
        var handshakes = Interlocked.Read(ref _handshakes) - handshakes0;

        // Requests in flight finish on their own (and are not counted); a stuck one is cut after 10 s.
        stop.CancelAfter(TimeSpan.FromSeconds(10));
        await stopFlood.CancelAsync().ConfigureAwait(false);
        var flooded = flooding is null ? null : await flooding.ConfigureAwait(false);
        await Task.WhenAll(workers).ConfigureAwait(false);

        var latency = new LongHistogram(HighestMicroseconds, 3);
        foreach (var histogram in histograms)
        {
            latency.Add(histogram);
        }

        return new LoadResult(_options.Label, _options.Mode, _options.Connections, latency.TotalCount, Interlocked.Read(ref _errors), Volatile.Read(ref _firstError),
            elapsed, latency, after.Server - before.Server, after.Upstream - before.Upstream, after.Client - before.Client, after.Machine - before.Machine, handshakes,
            _options.Pids.Count, _options.UpstreamPids.Count, warmed, steady, flooded)
        {
            AllocatedBytes = after.Allocated - before.Allocated,
            ContextSwitches = (after.Switches.Voluntary - before.Switches.Voluntary, after.Switches.Involuntary - before.Switches.Involuntary),
        };
    }

    /// <summary>
    /// Warm-up until the CPU per request stops moving, summed over the process under test, its upstream and this load
    /// generator (all three bound the rate): a .NET process pinned to one CPU keeps replacing instrumented and tier-0
    /// code for 20-120 s (its call-counting delay is ten times longer on one CPU), and a figure taken before that
    /// measures the JIT. Windows of 5 s; steady when the last three are within 5 % of each other (and at least four
    /// were taken). Every window is printed, so the curve is on record.
    /// </summary>
    private async Task<bool> WarmUntilSteadyAsync()
    {
        var window = TimeSpan.FromSeconds(5);
        var windows = new List<double>();
        var started = Stopwatch.StartNew();
        var steady = false;
        while (!steady && started.Elapsed + window <= _options.Steady)
        {
            var cpu = AllCpu();
            var answered = Interlocked.Read(ref _answered);
            await Task.Delay(window).ConfigureAwait(false);
            var requests = Interlocked.Read(ref _answered) - answered;
            windows.Add(requests == 0 ? double.NaN : (AllCpu() - cpu).TotalMicroseconds / requests);
            steady = windows.Count >= 4 && windows[^3..].Max() / windows[^3..].Min() < 1.05;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  warm-up until steady: {(steady ? "steady" : "NOT steady")} after {started.Elapsed.TotalSeconds:F0} s more; CPU µs per request (all measured processes) in 5 s windows: {string.Join(", ", windows.Select(w => w.ToString("F0", CultureInfo.InvariantCulture)))}"));

        return steady;

        TimeSpan AllCpu() => Cpu(_options.Pids) + Cpu(_options.UpstreamPids) + ProcStat.ProcessCpu(Environment.ProcessId);
    }

    /// <summary>
    /// The counters read at the start (<paramref name="start"/>) and at the end of the measured seconds. The allocation
    /// probe (a connection to the process under test) is read before the CPU at the start and after it at the end, so
    /// that its own cost falls outside the CPU window.
    /// </summary>
    private (TimeSpan Server, TimeSpan Upstream, TimeSpan Client, TimeSpan Machine, long? Allocated, (long Voluntary, long Involuntary) Switches) Snapshot(bool start)
    {
        var allocated = start ? Allocated() : null;
        var cpu = (Server: Cpu(_options.Pids), Upstream: Cpu(_options.UpstreamPids), Client: ProcStat.ProcessCpu(Environment.ProcessId), Machine: ProcStat.MachineBusy());
        var switches = _options.Pids.Aggregate((Voluntary: 0L, Involuntary: 0L), (sum, pid) =>
        {
            var (voluntary, involuntary) = ProcStat.ContextSwitches(pid);
            return (sum.Voluntary + voluntary, sum.Involuntary + involuntary);
        });
        return (cpu.Server, cpu.Upstream, cpu.Client, cpu.Machine, start ? allocated : Allocated(), switches);

        long? Allocated() => _options.AllocationProbe is null ? null : AllocationProbe.Read(_options.AllocationProbe);
    }

    private static TimeSpan Cpu(IEnumerable<int> pids) => pids.Aggregate(TimeSpan.Zero, (sum, pid) => sum + ProcStat.ProcessCpu(pid));

    private async Task WorkAsync(LongHistogram histogram, CancellationToken cancellationToken)
    {
        HttpConnection? connection = null;
        try
        {
            while (Volatile.Read(ref _phase) != Stopping)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    connection ??= await HttpConnection.OpenAsync(_endpoint, _options.From, _tls, cancellationToken).ConfigureAwait(false);
                    if (_options.Mode == ConnectionMode.KeepAlive)
                    {
                        // Keep-alive latency is the request's alone, not the (re)connect's.
                        started = Stopwatch.GetTimestamp();
                    }

                    var status = await connection.SendAsync(_request, cancellationToken).ConfigureAwait(false);
                    var measured = Volatile.Read(ref _phase) == Measuring;
                    if (!measured)
                    {
                        // Only the warm-up's steadiness check reads it: no shared counter on the measured path.
                        Interlocked.Increment(ref _answered);
                    }
                    if (status != _options.Expect)
                    {
                        Fail(measured, $"answered {status}, expected {_options.Expect}");
                    }
                    else if (measured)
                    {
                        histogram.RecordValue(Math.Max(1, (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds));
                    }

                    if (_options.Mode == ConnectionMode.New || connection.Closed)
                    {
                        await connection.DisposeAsync().ConfigureAwait(false);
                        connection = null;
                    }
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or AuthenticationException or OperationCanceledException)
                {
                    Fail(Volatile.Read(ref _phase) == Measuring, $"{e.GetType().Name}: {e.Message}{(e.InnerException is null ? "" : " (" + e.InnerException.Message + ")")}");
                    if (connection is not null)
                    {
                        await connection.DisposeAsync().ConfigureAwait(false);
                        connection = null;
                    }

                    if (cancellationToken.IsCancellationRequested)
                    {
                        return;
                    }
                }
            }
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private void Fail(bool measured, string error)
    {
        if (measured)
        {
            Interlocked.Increment(ref _errors);
        }

        Interlocked.CompareExchange(ref _firstError, error, null);
    }

    private SslClientAuthenticationOptions TlsOptions(LoadOptions options)
    {
        var bundle = new X509Certificate2Collection();
        bundle.ImportFromPemFile(options.CaFile!);
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        policy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.1")); // serverAuth
        foreach (var certificate in bundle)
        {
            // Self-signed ones are the roots; anything else in the file only helps build the chain.
            (certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData) ? policy.CustomTrustStore : policy.ExtraStore).Add(certificate);
        }

        SslStreamCertificateContext? client = null;
        if (options.CertFile is not null)
        {
            var chain = new X509Certificate2Collection();
            chain.ImportFromPemFile(options.CertFile);
            var leaf = X509Certificate2.CreateFromPemFile(options.CertFile, options.KeyFile);
            client = SslStreamCertificateContext.Create(leaf, new X509Certificate2Collection(chain.Skip(1).ToArray()), offline: true);
        }

        return new SslClientAuthenticationOptions
        {
            TargetHost = options.TlsHost ?? options.Url.IdnHost,
            EnabledSslProtocols = SslProtocols.Tls13,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            CertificateChainPolicy = policy,
            ClientCertificateContext = client,
            RemoteCertificateValidationCallback = (_, _, _, errors) =>
            {
                Interlocked.Increment(ref _handshakes);
                if (errors != SslPolicyErrors.None)
                {
                    Interlocked.CompareExchange(ref _firstError, $"the server's certificate failed validation: {errors}", null);
                }

                return errors == SslPolicyErrors.None;
            },
        };
    }
}
