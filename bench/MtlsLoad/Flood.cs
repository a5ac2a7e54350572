using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace MtlsAspire.MtlsLoad;

/// <summary>A kind of bad handshake the flood sends.</summary>
public enum FloodKind
{
    /// <summary>64 random bytes instead of a ClientHello.</summary>
    Garbage,

    /// <summary>A full TLS handshake presenting a certificate of a CA the server does not trust, claiming one of its SPIFFE IDs.</summary>
    Rogue,

    /// <summary>A full TLS handshake presenting no certificate.</summary>
    None,
}

/// <summary>What the flood did, per kind.</summary>
public sealed record FloodResult(TimeSpan Elapsed, IReadOnlyDictionary<FloodKind, FloodCounts> Kinds, long Skipped)
{
    public long Attempts => Kinds.Values.Sum(k => k.Attempts);

    public long Accepted => Kinds.Values.Sum(k => k.Accepted);

    public double PerSecond => Attempts / Elapsed.TotalSeconds;

    /// <summary>The refused attempts that reached the server's certificate check (rogue and none; garbage never does).</summary>
    public long TlsRefused => Kinds.Where(k => k.Key != FloodKind.Garbage).Sum(k => k.Value.Refused);

    /// <summary>The TLS attempts (rogue and none) the server closed before their handshake was through: refused before the certificate check.</summary>
    public long ClosedEarly => Kinds.Sum(k => k.Value.ClosedEarly);

    public string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"flood: {Attempts} bad handshakes ({PerSecond:F0}/s), ") +
        string.Join(", ", Kinds.Select(k => string.Create(CultureInfo.InvariantCulture,
            $"{k.Key.ToString().ToLowerInvariant()} {k.Value.Attempts} ({k.Value.Refused} refused{(k.Key == FloodKind.Garbage ? "" : $" by the certificate check, {k.Value.ClosedEarly} closed before the handshake was through")}, {k.Value.Accepted} answered, {k.Value.Unfinished} unfinished)"))) +
        string.Create(CultureInfo.InvariantCulture, $"; {Skipped} not sent (512 already in flight)");

    public string ToResultFields() => string.Create(CultureInfo.InvariantCulture,
        $"flood_rps={PerSecond:F0} flood_attempts={Attempts} flood_accepted={Accepted} flood_tls_refused={TlsRefused} flood_closed_early={ClosedEarly} flood_skipped={Skipped}");
}

/// <param name="ClosedEarly">TLS attempts the server closed before their handshake was through (garbage is always in <paramref name="Refused"/>).</param>
public sealed record FloodCounts(long Attempts, long Refused, long Accepted, long Unfinished, long ClosedEarly);

/// <summary>
/// Bad handshakes at a fixed rate against the server under test, alongside the legitimate load: garbage bytes, a rogue CA's
/// certificate, no certificate. Each is a new connection; it counts as refused when the server ends it without answering
/// an HTTP request sent over it, and as answered (a hole) when an HTTP response comes back. A TLS attempt the server
/// closes before its handshake is through (TLS 1.3: the client's side ends before the server judges its certificate, so
/// only a server that refuses before or during the TLS handshake does that) is counted apart, as closed early.
/// </summary>
internal sealed class Flood : IDisposable
{
    private const int MaxInFlight = 512;
    private static readonly TimeSpan s_attemptTimeout = TimeSpan.FromSeconds(15);

    private readonly IPEndPoint _endpoint;
    private readonly IPAddress? _from;
    private readonly double _rate;
    private readonly FloodKind[] _kinds;
    private readonly SslClientAuthenticationOptions _rogue;
    private readonly SslClientAuthenticationOptions _anonymous;
    private readonly byte[] _request;
    private readonly X509Certificate2 _rogueLeaf;
    private readonly long[,] _counts;
    private long _inFlight;
    private long _skipped;

    public Flood(IPEndPoint endpoint, IPAddress? from, double rate, IReadOnlyList<FloodKind> kinds, SslClientAuthenticationOptions server, string claimedSpiffeId, Uri url)
    {
        _endpoint = endpoint;
        _from = from;
        _rate = rate;
        _kinds = [.. kinds];
        _counts = new long[Enum.GetValues<FloodKind>().Length, 5];
        _rogueLeaf = RogueLeaf(claimedSpiffeId);
        // The server is validated as the legitimate load validates it: a refusal must come from the real server.
        _anonymous = With(server, null);
        _rogue = With(server, SslStreamCertificateContext.Create(_rogueLeaf, [], offline: true));
        _request = Encoding.ASCII.GetBytes($"GET {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\nConnection: close\r\n\r\n");
    }

    /// <summary>Sends bad handshakes at the rate until <paramref name="stop"/>, then waits for those in flight.</summary>
    public async Task<FloodResult> RunAsync(CancellationToken stop)
    {
        var stopwatch = Stopwatch.StartNew();
        var attempts = new List<Task>();
        long launched = 0;
        using var ticks = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        try
        {
            while (await ticks.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                var due = (long)(stopwatch.Elapsed.TotalSeconds * _rate) - launched;
                for (; due > 0; due--, launched++)
                {
                    if (Interlocked.Read(ref _inFlight) >= MaxInFlight)
                    {
                        Interlocked.Increment(ref _skipped);
                        continue;
                    }

                    Interlocked.Increment(ref _inFlight);
                    var kind = _kinds[launched % _kinds.Length];
                    attempts.Add(Task.Run(() => AttemptAsync(kind), CancellationToken.None)); // each ends on its own timeout
                }

                attempts.RemoveAll(t => t.IsCompleted);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }

        var elapsed = stopwatch.Elapsed;
        await Task.WhenAll(attempts).ConfigureAwait(false);
        var kinds = _kinds.Distinct().ToDictionary(k => k, k => new FloodCounts(Count(k, 0), Count(k, 1), Count(k, 2), Count(k, 3), Count(k, 4)));
        return new FloodResult(elapsed, kinds, Interlocked.Read(ref _skipped));
    }

    private long Count(FloodKind kind, int what) => Interlocked.Read(ref _counts[(int)kind, what]);

    private async Task AttemptAsync(FloodKind kind)
    {
        Interlocked.Increment(ref _counts[(int)kind, 0]);
        var outcome = 3; // unfinished
        using var timeout = new CancellationTokenSource(s_attemptTimeout);
        try
        {
            outcome = await TryAsync(kind, timeout.Token).ConfigureAwait(false) switch { Outcome.Answered => 2, Outcome.ClosedEarly => 4, _ => 1 };
        }
        catch (Exception e) when (e is IOException or SocketException or System.Security.Authentication.AuthenticationException)
        {
            outcome = 1; // refused: the server ended it
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            Interlocked.Increment(ref _counts[(int)kind, outcome]);
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private enum Outcome { Refused, Answered, ClosedEarly }

    /// <summary>Whether the server answered an HTTP request over the bad connection, refused it, or closed it before its TLS handshake was through.</summary>
    private async Task<Outcome> TryAsync(FloodKind kind, CancellationToken cancellationToken)
    {
        using var socket = HttpConnection.NewSocket(_endpoint, _from);
        try
        {
            await socket.ConnectAsync(_endpoint, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException) when (kind != FloodKind.Garbage)
        {
            return Outcome.ClosedEarly; // not connected: never judged by the certificate check
        }

        await using var network = new NetworkStream(socket, ownsSocket: false);
        await using var ssl = new SslStream(network, leaveInnerStreamOpen: true);
        var buffer = new byte[512];
        try
        {
            if (kind == FloodKind.Garbage)
            {
                await network.WriteAsync(RandomNumberGenerator.GetBytes(64), cancellationToken).ConfigureAwait(false);
                return await AnsweredAsync(network, buffer, cancellationToken).ConfigureAwait(false) ? Outcome.Answered : Outcome.Refused;
            }

            await ssl.AuthenticateAsClientAsync(kind == FloodKind.Rogue ? _rogue : _anonymous, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (kind != FloodKind.Garbage && e is IOException or SocketException or System.Security.Authentication.AuthenticationException)
        {
            // Closed before the handshake was through: never judged by the certificate check.
            return Outcome.ClosedEarly;
        }

        // TLS 1.3: the client's side is done before the server has judged its certificate; the verdict comes on the first read.
        await ssl.WriteAsync(_request, cancellationToken).ConfigureAwait(false);
        return await AnsweredAsync(ssl, buffer, cancellationToken).ConfigureAwait(false) ? Outcome.Answered : Outcome.Refused;
    }

    private static async Task<bool> AnsweredAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return read >= 5 && buffer.AsSpan(0, 5).SequenceEqual("HTTP/"u8);
    }

    private static SslClientAuthenticationOptions With(SslClientAuthenticationOptions server, SslStreamCertificateContext? client) => new()
    {
        TargetHost = server.TargetHost,
        EnabledSslProtocols = server.EnabledSslProtocols,
        ApplicationProtocols = server.ApplicationProtocols,
        CertificateRevocationCheckMode = server.CertificateRevocationCheckMode,
        CertificateChainPolicy = server.CertificateChainPolicy,
        RemoteCertificateValidationCallback = server.RemoteCertificateValidationCallback,
        ClientCertificateContext = client,
        // A new session each time: resumption would skip the certificate the flood is about.
        AllowTlsResume = false,
    };

    /// <summary>A self-signed rogue root and a leaf under it claiming <paramref name="spiffeId"/>, clientAuth, made at start.</summary>
    private static X509Certificate2 RogueLeaf(string spiffeId)
    {
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=MtlsLoad rogue CA", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        var now = DateTimeOffset.UtcNow;
        using var root = rootRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=rogue", leafKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(spiffeId));
        leafRequest.CertificateExtensions.Add(san.Build());
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var leaf = leafRequest.Create(root, now.AddMinutes(-5), now.AddHours(12), RandomNumberGenerator.GetBytes(16));
        return leaf.CopyWithPrivateKey(leafKey);
    }

    public void Dispose() => _rogueLeaf.Dispose();
}
