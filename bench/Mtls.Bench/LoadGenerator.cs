using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Revocation;

namespace MtlsAspire.Mtls.Bench;

/// <summary>How a row's client connects.</summary>
internal enum ConnectionMode
{
    /// <summary>Every request on a new TCP (+TLS) connection: the pool never reuses one, and the request says <c>Connection: close</c>.</summary>
    NewConnection,

    /// <summary>One pooled keep-alive connection per worker, reused for every request.</summary>
    KeepAlive,
}

/// <summary>One measured row: a target, how to connect, what status to expect.</summary>
internal sealed record RowSpec(string Key, string Phase, string Label, Uri Target, ConnectionMode Mode, HttpStatusCode Expected, bool Mtls);

/// <summary>What one row measured.</summary>
internal sealed record RowResult(RowSpec Spec, int Workers, long Requests, TimeSpan Elapsed, TimeSpan ServerCpu, TimeSpan ClientCpu, TimeSpan MachineBusy,
    long Validations, long Errors, string? FirstError)
{
    /// <summary>Which round (1-based) of the run this row belongs to.</summary>
    public int Round { get; init; } = 1;

    public double PerSecond => Requests / Elapsed.TotalSeconds;

    /// <summary>Mean time one worker waits for one request (workers / rate).</summary>
    public double MeanMilliseconds => Requests == 0 ? double.NaN : Workers * Elapsed.TotalMilliseconds / Requests;

    public double ServerCpuMicroseconds => Requests == 0 ? double.NaN : ServerCpu.TotalMicroseconds / Requests;

    public double ClientCpuMicroseconds => Requests == 0 ? double.NaN : ClientCpu.TotalMicroseconds / Requests;

    public double ServerCores => ServerCpu / Elapsed;

    public double MachineCores => MachineBusy / Elapsed;
}

/// <summary>
/// The load generator: W workers, each with its own <see cref="SocketsHttpHandler"/>, send GETs back to back. The
/// mTLS client presents the client chain through <see cref="SslStreamCertificateContext"/> and validates the server
/// for real (chain to the PKI's ca.crt with serverAuth, <see cref="ChainCheck"/>); validation is never disabled.
/// </summary>
internal sealed class LoadGenerator(SslStreamCertificateContext clientContext, X509Certificate2Collection trustedRoots)
{
    private long _validations;

    /// <summary>How many times the client validated a server certificate (a new or resumed TLS connection each).</summary>
    public long Validations => Interlocked.Read(ref _validations);

    public async Task<RowResult> RunAsync(RowSpec spec, int workers, ServerProcess server, TimeSpan warmup, TimeSpan duration)
    {
        var counters = new Counters();
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, workers).Select(_ => CreateClient(spec)).ToArray();
        try
        {
            var tasks = clients.Select(client => Task.Run(() => WorkAsync(client, spec, counters, stop.Token))).ToArray();
            await Task.Delay(warmup).ConfigureAwait(false);

            var requests0 = Interlocked.Read(ref counters.Requests);
            var errors0 = Interlocked.Read(ref counters.Errors);
            var validations0 = Validations;
            var server0 = server.Cpu;
            var client0 = ProcStat.ProcessCpu(Environment.ProcessId);
            var machine0 = ProcStat.MachineBusy();
            var stopwatch = Stopwatch.StartNew();

            await Task.Delay(duration).ConfigureAwait(false);

            var requests1 = Interlocked.Read(ref counters.Requests);
            var errors1 = Interlocked.Read(ref counters.Errors);
            var validations1 = Validations;
            var server1 = server.Cpu;
            var client1 = ProcStat.ProcessCpu(Environment.ProcessId);
            var machine1 = ProcStat.MachineBusy();
            var elapsed = stopwatch.Elapsed;

            await stop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(tasks).ConfigureAwait(false);
            return new RowResult(spec, workers, requests1 - requests0, elapsed, server1 - server0, client1 - client0, machine1 - machine0,
                validations1 - validations0, errors1 - errors0, counters.FirstError);
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    private static async Task WorkAsync(HttpClient client, RowSpec spec, Counters counters, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                // Not cancelled mid-request: a row ends after the requests in flight complete.
                using var response = await client.GetAsync(spec.Target, HttpCompletionOption.ResponseContentRead, CancellationToken.None).ConfigureAwait(false);
                if (response.StatusCode == spec.Expected)
                {
                    Interlocked.Increment(ref counters.Requests);
                }
                else
                {
                    counters.Fail($"{spec.Target} answered {(int)response.StatusCode}, expected {(int)spec.Expected}");
                }
            }
            catch (HttpRequestException e)
            {
                counters.Fail($"{e.GetType().Name}: {e.Message} {e.InnerException?.Message}");
            }
        }
    }

    private HttpClient CreateClient(RowSpec spec)
    {
        var handler = new SocketsHttpHandler
        {
            // Zero: a connection is never reused, so every request opens a new one.
            PooledConnectionLifetime = spec.Mode == ConnectionMode.NewConnection ? TimeSpan.Zero : Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            MaxConnectionsPerServer = 1,
            ConnectTimeout = TimeSpan.FromSeconds(10),
            UseProxy = false,
            UseCookies = false,
            AllowAutoRedirect = false,
        };
        if (spec.Mtls)
        {
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                EnabledSslProtocols = SslProtocols.Tls13,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                ClientCertificateContext = clientContext,
                RemoteCertificateValidationCallback = ValidateServer,
            };
        }

        var client = new HttpClient(handler, disposeHandler: true) { Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.ConnectionClose = spec.Mode == ConnectionMode.NewConnection;
        return client;
    }

    /// <summary>As tests/…/RawTlsClient: the server's chain must build to the bundle with serverAuth (no revocation: the server is not what is judged).</summary>
    private bool ValidateServer(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        Interlocked.Increment(ref _validations);
        if (certificate is not X509Certificate2 leaf)
        {
            return false;
        }

        return ChainCheck.Verify(leaf, chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>() ?? [], trustedRoots, RevocationSet.Empty,
            DateTimeOffset.UtcNow, CertificateFacts.ServerAuthOid).IsValid;
    }

    private sealed class Counters
    {
        public long Requests;
        public long Errors;
        private string? _firstError;

        public string? FirstError => Volatile.Read(ref _firstError);

        public void Fail(string error)
        {
            Interlocked.Increment(ref Errors);
            Interlocked.CompareExchange(ref _firstError, error, null);
        }
    }
}
