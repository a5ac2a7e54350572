using System.Diagnostics;
using System.Globalization;
using System.Net.Security;
using System.Text;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.Lifecycle.Bench;

/// <summary>One revocation: when each thing happened, in ms from the revoke command's return (negative: before it returned).</summary>
internal sealed record RevocationTiming(double Command, double? CrlWritten, double? OpenRefused, double? NewRefused);

/// <summary>
/// Revocation to refusal. Each time: load the revoked service's current chain and key into memory, open a keep-alive
/// connection to <c>order</c> with it (a request answers 403: the handshake is accepted, authorization says no),
/// then, while probing (a) that connection every 5 ms and (b) a new connection with the same chain every 10 ms, run
/// <c>revoke-certificate</c>. A probe is refused when the server ends the connection instead of answering.
/// </summary>
internal sealed class RevocationBench(BenchApp app, string service)
{
    private const string ProbePath = "/api/orders/revocation-probe";
    private static readonly TimeSpan s_refusalTimeout = TimeSpan.FromSeconds(30);

    public async Task<RevocationTiming> RunOnceAsync(CancellationToken cancellationToken)
    {
        var order = app.Https("order");
        var orderIdentity = app.Pki.IdentityOf("order");
        using var credentials = ServiceCredentials.Load(new CredentialDirectory(app.Pki.CredentialsDirectory(service)));
        var context = SslStreamCertificateContext.Create(credentials.Leaf, credentials.Intermediates, offline: true);
        await using var open = await RawMtlsConnection.OpenAsync(order, context, credentials.TrustedRoots, orderIdentity, cancellationToken);
        var first = await open.GetAsync(ProbePath, cancellationToken);
        if (first >= 500)
        {
            throw new InvalidOperationException($"order answered {first} to the probe before the revocation.");
        }

        var before = (await app.ObserveAsync(cancellationToken)).Where(m => m.Status is not null).ToDictionary(m => m.Status!.SpiffeId, m => m.Status!.Generation, StringComparer.Ordinal);
        using var probing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        probing.CancelAfter(s_refusalTimeout);
        var crl = WatchDataLinkAsync(Path.Combine(app.Pki.CredentialsDirectory("order"), CredentialDirectory.DataLinkName), probing.Token);
        var openRefused = UntilRefusedAsync(() => open.GetAsync(ProbePath, probing.Token), TimeSpan.FromMilliseconds(5), probing.Token);
        var newRefused = UntilRefusedAsync(async () =>
        {
            await using var fresh = await RawMtlsConnection.OpenAsync(order, context, credentials.TrustedRoots, orderIdentity, probing.Token);
            return await fresh.GetAsync(ProbePath, probing.Token);
        }, TimeSpan.FromMilliseconds(10), probing.Token);

        var commandStarted = Stopwatch.GetTimestamp();
        await app.CommandAsync(service, "revoke-certificate", cancellationToken);
        var returned = Stopwatch.GetTimestamp();
        var (a, b) = (await openRefused, await newRefused);
        await probing.CancelAsync();
        var (crlTicks, _) = await crl;

        // Next round starts from a settled fleet: every service has loaded the CRL, the service its replacement.
        var replacement = app.Ledger.ActiveLeaf(service)?.Serial;
        var id = app.Pki.IdentityOf(service).ToString();
        await app.UntilEveryServiceAsync("the new CRL", s => s.Generation > before.GetValueOrDefault(s.SpiffeId, long.MinValue)
            && (s.SpiffeId != id || string.Equals(s.Leaf.Serial, replacement, StringComparison.OrdinalIgnoreCase)), cancellationToken);

        return new RevocationTiming(Ms(commandStarted, returned), crlTicks is { } c ? Ms(returned, c) : null,
            a is { } x ? Ms(returned, x) : null, b is { } y ? Ms(returned, y) : null);
    }

    private static double Ms(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;

    /// <summary>Runs <paramref name="probe"/> until it throws; returns when (Stopwatch ticks), or null at the timeout.</summary>
    private static async Task<long?> UntilRefusedAsync(Func<Task<int>> probe, TimeSpan pause, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await probe();
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return null;
            }
            catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or System.Net.Sockets.SocketException)
            {
                return Stopwatch.GetTimestamp();
            }

            try
            {
                await Task.Delay(pause, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }

        return null;
    }

    /// <summary>Polls (every ~1 ms) the <c>..data</c> link of order's credential directory; when it points at a new generation, the CRL was written.</summary>
    private static Task<(long? Ticks, DateTimeOffset? At)> WatchDataLinkAsync(string link, CancellationToken cancellationToken) => Task.Factory.StartNew(() =>
    {
        var initial = File.ResolveLinkTarget(link, returnFinalTarget: false)?.FullName;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (File.ResolveLinkTarget(link, returnFinalTarget: false)?.FullName != initial)
            {
                return ((long?)Stopwatch.GetTimestamp(), (DateTimeOffset?)DateTimeOffset.UtcNow);
            }

            Thread.Sleep(1);
        }

        return (null, null);
    }, cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>The markdown table: median and max over the runs of each interval.</summary>
    public static string Table(IReadOnlyList<RevocationTiming> runs)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"| interval ({runs.Count} revocations) | median ms | max ms | min ms | seen |");
        text.AppendLine("|---|---|---|---|---|");
        Row("revoke-certificate command (start → return)", r => r.Command);
        Row("crl.pem written in order's directory, from the return", r => r.CrlWritten);
        Row("(a) first refusal on the open keep-alive connection, from the return", r => r.OpenRefused);
        Row("(b) first refusal of a new connection with the old chain, from the return", r => r.NewRefused);
        Row("(a) from crl.pem written", r => r.OpenRefused - r.CrlWritten);
        Row("(b) from crl.pem written", r => r.NewRefused - r.CrlWritten);
        return text.ToString();

        void Row(string name, Func<RevocationTiming, double?> value)
        {
            var values = runs.Select(value).OfType<double>().Order().ToArray();
            text.AppendLine(values.Length == 0
                ? $"| {name} | — | — | — | 0 of {runs.Count} |"
                : string.Create(CultureInfo.InvariantCulture,
                    $"| {name} | {Median(values):0.0} | {values[^1]:0.0} | {values[0]:0.0} | {values.Length} of {runs.Count} |"));
        }
    }

    private static double Median(double[] sorted) => sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
}
