using System.Diagnostics;
using System.Globalization;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Lifecycle.Bench;

// The certificate lifecycle under load: the whole app (real DCP, real services), our own load through every hop, and
// each rotation the dashboard offers measured as a phase; then revocation-to-refusal times. With --latency: one order's
// latency and CPU in variants of the app (default, no telemetry, direct endpoints). With --soak: renewals and rotations
// under load for minutes, the processes' memory, descriptors and caches sampled. See bench/README.md.
BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    if (e.Message.Length > 0)
    {
        Console.Error.WriteLine(e.Message);
    }

    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

using var cancel = new CancellationTokenSource(options.Soak is { } soak ? soak + TimeSpan.FromMinutes(20)
    : TimeSpan.FromMinutes(options.Latency ? 10 * options.Variants.Count * options.Rounds : 20));
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true; // stop the app and delete the state directory on the way out
    cancel.Cancel();
};
var ct = cancel.Token;
if (options.Latency)
{
    return await LatencyBench.RunAsync(options, ct);
}

if (options.Soak is { } minutes)
{
    return await SoakBench.RunAsync(options, minutes, ct);
}

var state = Path.Combine(options.BaseDirectory ?? Path.GetTempPath(), "lifecycle-bench-" + Guid.NewGuid().ToString("N")[..12]);
var total = Stopwatch.StartNew();
Console.WriteLine($"Lifecycle.Bench: {options.Workers} workers ({options.ClosingWorkers} with Connection: close), steady {options.Steady.TotalSeconds:0} s, " +
    $"{options.Revocations} revocations of {options.RevokedService}, every {options.ChargeEvery}th order charged; {Environment.ProcessorCount} CPUs");

BenchApp? app = null;
OrderLoad? load = null;
var watched = new HashSet<int>();
var exit = 0;
try
{
    app = await BenchApp.StartAsync(state, AppSetup.Lifecycle, ct);
    Console.WriteLine($"app started and healthy in {total.Elapsed.TotalSeconds:0.0} s: {string.Join(", ", app.Identities)}");
    watched.UnionWith(app.ServiceProcesses());

    var warnings = new WarningLog();
    load = new OrderLoad(app.Https("order"), app.Pki.CredentialsDirectory("shopper"), new LoadShape(options.Workers, options.ClosingWorkers, options.ChargeEvery), warnings);
    load.Start();
    await Task.Delay(TimeSpan.FromSeconds(5), ct); // JIT and pools, not measured
    var phases = new List<PhaseResult>();

    async Task PhaseAsync(string name, Func<Task<string?>> run)
    {
        Console.WriteLine($"phase: {name}");
        var start = Stopwatch.GetTimestamp();
        var note = await run();
        await Task.Delay(options.Settle, ct);
        var result = PhaseResult.Of(name, start, Stopwatch.GetTimestamp(), load.Samples, note);
        phases.Add(result);
        Console.WriteLine($"  {result.Duration.TotalSeconds:0.0} s, {result.Requests} requests, {result.Failed} failed, p99 {result.All.P99:0.0} ms{(note is null ? "" : "; " + note)}");
        foreach (var error in result.Errors)
        {
            Console.WriteLine($"  failed: {error}");
        }
    }

    await PhaseAsync("steady state", async () =>
    {
        await Task.Delay(options.Steady - options.Settle, ct);
        return null;
    });

    await PhaseAsync("renew every leaf", async () =>
    {
        var serials = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var service in app.Identities)
        {
            await app.CommandAsync(service, "renew-certificate", ct);
            serials[app.Pki.IdentityOf(service).ToString()] = app.Ledger.ActiveLeaf(service)!.Serial;
        }

        await app.UntilEveryServiceAsync("its renewed leaf", s => string.Equals(serials.GetValueOrDefault(s.SpiffeId), s.Leaf.Serial, StringComparison.OrdinalIgnoreCase), ct);
        return null;
    });

    await PhaseAsync("rotate intermediate", async () =>
    {
        await app.CommandAsync("pki", "rotate-intermediate", ct);
        var intermediate = app.Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active)[^1].Serial;
        await app.UntilEveryServiceAsync("a leaf under the new intermediate", s => string.Equals(s.Leaf.IssuerSerial, intermediate, StringComparison.OrdinalIgnoreCase), ct);
        return null;
    });

    await PhaseAsync("rotate root (3 steps)", async () => Shorten(await app.CommandAsync("pki", "rotate-root", ct)));

    await PhaseAsync("fire drill", async () => Shorten(await app.CommandAsync("pki", "fire-drill", ct)));

    var revocations = new List<RevocationTiming>();
    if (options.Revocations > 0)
    {
        var bench = new RevocationBench(app, options.RevokedService);
        await PhaseAsync($"{options.Revocations} revocations of {options.RevokedService}", async () =>
        {
            for (var i = 0; i < options.Revocations; i++)
            {
                var run = await bench.RunOnceAsync(ct);
                revocations.Add(run);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  revocation {i + 1}: command {run.Command:0} ms; from its return: crl.pem {Show(run.CrlWritten)}, open connection refused {Show(run.OpenRefused)}, new connection refused {Show(run.NewRefused)}"));
            }

            return null;
        });
    }

    var afterAll = load.Generation;
    await load.DisposeAsync();
    load = null;

    Console.WriteLine();
    Console.WriteLine(PhaseResult.Table(phases));
    if (revocations.Count > 0)
    {
        Console.WriteLine(RevocationBench.Table(revocations));
    }

    Console.WriteLine($"load client: credential generation {afterAll} at the end (1 at start, +1 per reload of the shopper's files)");
    var outOfStock = phases.Sum(p => p.OutOfStock);
    if (outOfStock > 0)
    {
        Console.WriteLine($"note: {outOfStock} orders found no stock (409) and never reached payment; lower the load or raise --charge-every");
    }

    foreach (var (_, line) in warnings.Lines.Take(20))
    {
        Console.WriteLine($"load client log: {line}");
    }

    if (phases.Sum(p => p.Failed) > 0)
    {
        exit = 1;
    }
}
catch (Exception e) when (e is not OperationCanceledException || ct.IsCancellationRequested)
{
    Console.Error.WriteLine($"benchmark stopped: {e.GetType().Name}: {e.Message}");
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

    // Every process this run started (services, DCP, dashboard) must be gone.
    if (await Processes.EnsureGoneAsync(watched) > 0)
    {
        exit = 1;
    }

    Console.WriteLine($"total {total.Elapsed.TotalMinutes:0.0} min");
}

return exit;

static string Show(double? ms) => ms is { } v ? string.Create(CultureInfo.InvariantCulture, $"{v:0} ms") : "not seen";

static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";
