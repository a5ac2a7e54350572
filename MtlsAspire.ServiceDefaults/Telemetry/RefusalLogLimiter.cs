using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using MtlsAspire.ServiceDefaults.Mtls;

namespace MtlsAspire.ServiceDefaults.Telemetry;

/// <summary>
/// Decides which refusals are logged (and, for handshakes, traced) one by one (<see cref="MtlsRefusalLogOptions"/>): per
/// kind — a handshake's side and reason, or a refused request's <see cref="RequestRefusalKind"/> — the first
/// <see cref="MtlsRefusalLogOptions.PerWindow"/> of each window. The others are counted; once the window is over (at the
/// next refusal of that kind, or at the latest one window later, or when the service stops) one Warning says how many
/// were not logged and names the last of them. Only a fixed set of keys exists (two sides, the rejection reasons, the
/// request refusal kinds), so peers cannot grow it.
/// </summary>
internal sealed class RefusalLogLimiter : IDisposable
{
    private readonly ConcurrentDictionary<(PeerSide Side, RejectionReason Reason), Bucket<Refusal>> _handshakes = new();
    private readonly ConcurrentDictionary<RequestRefusalKind, Bucket<RequestRefusal>> _requests = new();
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly int _perWindow;
    private readonly TimeSpan _window;
    private readonly ITimer _flush;

    public RefusalLogLimiter(TimeProvider time, ILogger logger, MtlsRefusalLogOptions options)
    {
        _time = time;
        _logger = logger;
        _perWindow = options.PerWindow;
        _window = options.Window;
        _flush = time.CreateTimer(_ => Flush(force: false), null, _window, _window);
    }

    /// <summary>True when this refused handshake is to be logged and traced in full; false when it is only counted for the summary.</summary>
    public bool Admit(PeerSide side, RejectionReason reason, in Refusal refusal) =>
        Admit(_handshakes.GetOrAdd((side, reason), key => new Bucket<Refusal>(_time.GetUtcNow(), (suppressed, elapsed, last) =>
            MtlsLog.RefusalsNotLogged(_logger, key.Side == PeerSide.Server ? "server" : "client", last.Self, suppressed, last.PeerRole,
                key.Reason.ToTagValue(), Seconds(elapsed), _perWindow, last.PeerAddress, last.Subject, last.ClaimedSpiffeId, last.Serial))), refusal);

    /// <summary>True when this refused request is to be logged in full; false when it is only counted for the summary.</summary>
    public bool Admit(RequestRefusalKind kind, in RequestRefusal refusal) =>
        Admit(_requests.GetOrAdd(kind, key => new Bucket<RequestRefusal>(_time.GetUtcNow(), (suppressed, elapsed, last) =>
            MtlsLog.RequestRefusalsNotLogged(_logger, last.Self, suppressed, key.Outcome(), Seconds(elapsed), _perWindow, key.Counter(),
                last.Caller, last.Request, last.PeerAddress))), refusal);

    /// <summary>Logs the summary of every window that is over (or, with <paramref name="force"/>, of every window) and had refusals not logged.</summary>
    internal void Flush(bool force)
    {
        var now = _time.GetUtcNow();
        foreach (var bucket in _handshakes.Values)
        {
            bucket.Flush(now, force, _window);
        }

        foreach (var bucket in _requests.Values)
        {
            bucket.Flush(now, force, _window);
        }
    }

    private bool Admit<T>(Bucket<T> bucket, in T refusal)
    {
        var admitted = bucket.Admit(_time.GetUtcNow(), _perWindow, _window, refusal, out var summary);
        summary?.Invoke();
        return admitted;
    }

    private static string Seconds(TimeSpan elapsed) => elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);

    /// <inheritdoc />
    public void Dispose()
    {
        _flush.Dispose();
        Flush(force: true);
    }

    /// <summary>What a refused handshake's log says about the peer; the last one not logged is named in the summary.</summary>
    internal readonly record struct Refusal(string Self, string PeerRole, string PeerAddress, string Subject, string ClaimedSpiffeId, string Serial);

    /// <summary>What a refused request's log says; the last one not logged is named in the summary.</summary>
    /// <param name="Self">This service.</param>
    /// <param name="Caller">The caller's SPIFFE ID, or "unverified".</param>
    /// <param name="Request">What was asked: the callee (service, method and route) or, on the plain port, method and path.</param>
    /// <param name="PeerAddress">Where it came from.</param>
    internal readonly record struct RequestRefusal(string Self, string Caller, string Request, string PeerAddress)
    {
        /// <summary>At most this much of a path a peer sent goes into a log line.</summary>
        private const int LoggedPathLength = 200;

        /// <summary>The method and path a peer sent, the path cut at <see cref="LoggedPathLength"/> characters.</summary>
        public static string RequestLine(HttpRequest request)
        {
            var path = request.Path.Value ?? "/";
            return $"{request.Method} {PeerText.Cut(path, LoggedPathLength)}";
        }
    }

    /// <summary>One kind's window: how many were logged in it, how many not, and the last of those; writes its own summary.</summary>
    private sealed class Bucket<T>(DateTimeOffset start, Action<long, TimeSpan, T> summarise)
    {
        private readonly Lock _lock = new();
        private DateTimeOffset _start = start;
        private int _logged;
        private long _suppressed;
        private T _last = default!;

        /// <summary>
        /// Judges one refusal at <paramref name="now"/>: true to log it in full. A window that is over is closed first;
        /// <paramref name="summary"/> then writes its summary (outside the lock, by the caller).
        /// </summary>
        public bool Admit(DateTimeOffset now, int perWindow, TimeSpan window, in T refusal, out Action? summary)
        {
            lock (_lock)
            {
                summary = now - _start >= window ? Close(now) : null;
                if (_logged < perWindow)
                {
                    _logged++;
                    return true;
                }

                _suppressed++;
                _last = refusal;
                return false;
            }
        }

        /// <summary>Writes the summary of the window if it is over (or, with <paramref name="force"/>, anyway) and had refusals not logged.</summary>
        public void Flush(DateTimeOffset now, bool force, TimeSpan window)
        {
            Action? summary;
            lock (_lock)
            {
                summary = _suppressed > 0 && (force || now - _start >= window) ? Close(now) : null;
            }

            summary?.Invoke();
        }

        /// <summary>Ends the window at <paramref name="now"/> and starts the next; returns the writing of its summary when refusals went unlogged.</summary>
        private Action? Close(DateTimeOffset now)
        {
            var (suppressed, elapsed, last) = (_suppressed, now - _start, _last);
            _start = now;
            _logged = 0;
            _suppressed = 0;
            return suppressed > 0 ? () => summarise(suppressed, elapsed, last) : null;
        }
    }
}
