using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using MtlsAspire.ServiceDefaults.Mtls;

namespace MtlsAspire.ServiceDefaults.Telemetry;

/// <summary>
/// Decides which refused handshakes are logged and traced one by one (<see cref="MtlsRefusalLogOptions"/>): per side and
/// reason, the first <see cref="MtlsRefusalLogOptions.PerWindow"/> of each window. The others are counted; once the window
/// is over (at the next refusal of that kind, or at the latest one window later, or when the service stops) one Warning
/// says how many were not logged and names the last of them. Only a fixed set of keys exists (two sides, the rejection
/// reasons), so peers cannot grow it.
/// </summary>
internal sealed class RefusalLogLimiter : IDisposable
{
    private readonly ConcurrentDictionary<(PeerSide Side, RejectionReason Reason), Bucket> _buckets = new();
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

    /// <summary>True when this refusal is to be logged and traced in full; false when it is only counted for the summary.</summary>
    public bool Admit(PeerSide side, RejectionReason reason, in Refusal refusal)
    {
        var bucket = _buckets.GetOrAdd((side, reason), key => new Bucket(key.Side, key.Reason, _time.GetUtcNow()));
        Summary? summary;
        bool admitted;
        lock (bucket)
        {
            var now = _time.GetUtcNow();
            summary = now - bucket.Start >= _window ? bucket.Close(now) : null;
            admitted = bucket.Logged < _perWindow;
            if (admitted)
            {
                bucket.Logged++;
            }
            else
            {
                bucket.Suppressed++;
                bucket.Last = refusal;
            }
        }

        Write(summary);
        return admitted;
    }

    /// <summary>Logs the summary of every window that is over (or, with <paramref name="force"/>, of every window) and had refusals not logged.</summary>
    internal void Flush(bool force)
    {
        foreach (var bucket in _buckets.Values)
        {
            Summary? summary;
            lock (bucket)
            {
                var now = _time.GetUtcNow();
                summary = bucket.Suppressed > 0 && (force || now - bucket.Start >= _window) ? bucket.Close(now) : null;
            }

            Write(summary);
        }
    }

    private void Write(Summary? summary)
    {
        if (summary is not { } s)
        {
            return;
        }

        MtlsLog.RefusalsNotLogged(_logger, s.Side == PeerSide.Server ? "server" : "client", s.Last.Self, s.Suppressed, s.Last.PeerRole,
            s.Reason.ToTagValue(), s.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture), _perWindow,
            s.Last.PeerAddress, s.Last.Subject, s.Last.ClaimedSpiffeId, s.Last.Serial);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _flush.Dispose();
        Flush(force: true);
    }

    /// <summary>What a refusal's log says about the peer; the last one not logged is named in the summary.</summary>
    internal readonly record struct Refusal(string Self, string PeerRole, string PeerAddress, string Subject, string ClaimedSpiffeId, string Serial);

    private readonly record struct Summary(PeerSide Side, RejectionReason Reason, long Suppressed, TimeSpan Elapsed, Refusal Last);

    private sealed class Bucket(PeerSide side, RejectionReason reason, DateTimeOffset start)
    {
        public DateTimeOffset Start { get; private set; } = start;

        public int Logged { get; set; }

        public long Suppressed { get; set; }

        public Refusal Last { get; set; }

        /// <summary>Ends the window at <paramref name="now"/> and starts the next; returns its summary when refusals went unlogged.</summary>
        public Summary? Close(DateTimeOffset now)
        {
            Summary? summary = Suppressed > 0 ? new Summary(side, reason, Suppressed, now - Start, Last) : null;
            Start = now;
            Logged = 0;
            Suppressed = 0;
            return summary;
        }
    }
}
