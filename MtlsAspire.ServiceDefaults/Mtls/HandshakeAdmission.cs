using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// Decides, before any TLS work, whether a new connection of the mTLS endpoint may start its handshake
/// (<see cref="MtlsAdmissionOptions"/>, the <c>Mtls:Admission</c> section). Per <see cref="SourceAddress"/> it bounds the
/// handshakes in flight, and keeps a penalty score: each failed handshake adds 1, the score halves every
/// <see cref="MtlsAdmissionOptions.PenaltyHalfLife"/> (on the <see cref="TimeProvider"/>), and while it is at
/// <see cref="MtlsAdmissionOptions.FailuresBeforePenalty"/> or above the source's connections are closed at once. A refused
/// connection adds nothing to the score, so a penalised source gets a handshake again as soon as its score has decayed
/// below the threshold (one more failure puts it back): a flood costs the server one TLS handshake per source every few
/// seconds, and a peer that fixed its certificate is served again. A source that completed a handshake is not penalised
/// for <see cref="MtlsAdmissionOptions.ProvenSourceMemory"/>: behind a proxy or NAT, legitimate callers share its address.
/// Handshakes in flight from all sources are bounded too, so a flood from many sources cannot queue unbounded TLS work
/// ahead of the established connections. The table of sources is bounded (<see cref="MtlsAdmissionOptions.MaxSources"/>).
/// Refusals are counted in <c>mtls.handshake.admission</c> {reason} and logged rate-limited.
/// </summary>
internal sealed class HandshakeAdmission : IDisposable
{
    /// <summary>The metric of connections refused before TLS, by reason.</summary>
    public const string MetricName = "mtls.handshake.admission";

    private readonly Lock _lock = new();
    private readonly Dictionary<SourceAddress, Source> _sources = [];
    private readonly HashSet<System.Net.EndPoint> _guarded = new(ReferenceEqualityComparer.Instance);
    private readonly TimeProvider _time;
    private readonly MtlsAdmissionOptions _options;
    private readonly double _halfLifeSeconds;
    private readonly long _provenTicks;
    private readonly Counter<long> _refused;
    private readonly AdmissionLog _log;
    private int _inFlight;
    private long _refusedAtAccept;

    public HandshakeAdmission(IOptions<MtlsOptions> options, TimeProvider time, IMeterFactory meters, ILoggerFactory loggers)
    {
        _time = time;
        _options = options.Value.Admission;
        _halfLifeSeconds = _options.PenaltyHalfLife.TotalSeconds;
        _provenTicks = (long)(_options.ProvenSourceMemory.TotalSeconds * time.TimestampFrequency);
        // The same meter as MtlsTelemetry's (the factory hands out one per name).
        var meter = meters.Create(MtlsTelemetry.MeterName);
        _refused = meter.CreateCounter<long>(MetricName, "{connection}",
            "Connections of the mTLS endpoint closed before the TLS handshake, by reason: penalised, source-concurrency, concurrency");
        meter.CreateObservableGauge("mtls.handshake.admission.sources", () => (long)Count, "{source}",
            "Source addresses (IPv4, IPv6 /64) the handshake admission remembers (Mtls:Admission:MaxSources at most)");
        _log = new AdmissionLog(time, loggers.CreateLogger(MtlsServerExtensions.LoggerCategory), options.Value.RefusalLogs, _options);
    }

    /// <summary>Whether admission control is on (<see cref="MtlsAdmissionOptions.Enabled"/>).</summary>
    public bool Enabled => _options.Enabled;

    /// <summary>The sources remembered.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _sources.Count;
            }
        }
    }

    /// <summary>True when <paramref name="source"/>'s new connections are refused for its failures now.</summary>
    public bool IsPenalised(SourceAddress source)
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            return _sources.TryGetValue(source, out var entry) && Penalised(entry, now);
        }
    }

    /// <summary>True when <paramref name="source"/> is remembered.</summary>
    public bool Remembers(SourceAddress source)
    {
        lock (_lock)
        {
            return _sources.ContainsKey(source);
        }
    }

    /// <summary>Marks <paramref name="endpoint"/> (the instance Kestrel listens on) as an mTLS endpoint, for <see cref="AdmissionTransportFactory"/>.</summary>
    public void Guard(System.Net.EndPoint endpoint)
    {
        lock (_guarded)
        {
            _guarded.Add(endpoint);
        }
    }

    /// <summary>True for an endpoint <see cref="Guard"/> marked.</summary>
    public bool Guards(System.Net.EndPoint endpoint)
    {
        lock (_guarded)
        {
            return _guarded.Contains(endpoint);
        }
    }

    /// <summary>
    /// True (counted and logged as <c>penalised</c>) when <paramref name="source"/> is penalised now: the accept loop
    /// closes its connection at once. Other sources go on to <see cref="TryAdmit"/>.
    /// </summary>
    public bool RefusePenalised(SourceAddress source)
    {
        lock (_lock)
        {
            if (!_sources.TryGetValue(source, out var entry) || !Penalised(entry, _time.GetTimestamp()))
            {
                return false;
            }
        }

        Interlocked.Increment(ref _refusedAtAccept);
        Refused(source, "penalised");
        return true;
    }

    /// <summary>Connections <see cref="RefusePenalised"/> refused in the accept loop.</summary>
    internal long RefusedAtAccept => Interlocked.Read(ref _refusedAtAccept);

    /// <summary>
    /// A slot for one handshake from <paramref name="source"/>, or null when its connection is to be closed before TLS
    /// (counted and logged here). The slot is given back through <see cref="Ticket.Complete"/>.
    /// </summary>
    public Ticket? TryAdmit(SourceAddress source)
    {
        string? refusal;
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            if (!_sources.TryGetValue(source, out var entry))
            {
                if (_sources.Count >= _options.MaxSources)
                {
                    Forget(now);
                }

                entry = new Source();
                _sources.Add(source, entry);
            }

            entry.LastSeen = now;
            if (entry.Penalty && Decayed(entry, now) < _options.FailuresBeforePenalty / 2.0)
            {
                entry.Penalty = false; // decayed well below: the next penalty is news again
            }

            refusal = Penalised(entry, now) ? "penalised"
                : entry.InFlight >= _options.MaxHandshakesPerSource ? "source-concurrency"
                : _inFlight >= _options.MaxConcurrentHandshakes ? "concurrency"
                : null;
            if (refusal is null)
            {
                entry.InFlight++;
                _inFlight++;
                return new Ticket(this, source, entry);
            }
        }

        Refused(source, refusal);
        return null;
    }

    private void Refused(SourceAddress source, string reason)
    {
        _refused.Add(1, new KeyValuePair<string, object?>("reason", reason));
        _log.Refused(source, reason);
    }

    private void Complete(SourceAddress source, Source entry, bool succeeded)
    {
        double? penalisedAt = null;
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            entry.InFlight--;
            _inFlight--;
            if (succeeded)
            {
                entry.ProvenAt = now;
                entry.Score = 0;
                entry.ScoreAt = now;
                entry.Penalty = false;
                return;
            }

            entry.Score = Decayed(entry, now) + 1;
            entry.ScoreAt = now;
            // Logged once per penalty: a flood that goes on gets a handshake each time its score decays below the
            // threshold and is penalised again by its failure, which is the same penalty going on.
            if (!entry.Penalty && entry.Score >= _options.FailuresBeforePenalty && !Proven(entry, now))
            {
                entry.Penalty = true;
                penalisedAt = entry.Score;
            }
        }

        if (penalisedAt is { } score)
        {
            _log.Penalised(source, score);
        }
    }

    private bool Penalised(Source entry, long now) => !Proven(entry, now) && Decayed(entry, now) >= _options.FailuresBeforePenalty;

    private bool Proven(Source entry, long now) => entry.ProvenAt is { } at && now - at < _provenTicks;

    private double Decayed(Source entry, long now) =>
        entry.Score == 0 ? 0 : entry.Score * double.Exp2(-_time.GetElapsedTime(entry.ScoreAt, now).TotalSeconds / _halfLifeSeconds);

    /// <summary>
    /// Makes room: forgets a tenth of the table, the least worth remembering first. Proven sources are worth the most
    /// (forgotten, one loses its exemption), then the higher penalty scores (forgotten, a flood starts afresh), then the
    /// most recently seen. A source with a handshake in flight is kept (its slot is counted on it). Sorting a tenth at a
    /// time keeps the cost per new source small while a flood of many sources churns the table.
    /// </summary>
    private void Forget(long now)
    {
        var candidates = _sources.Where(s => s.Value.InFlight == 0)
            .Select(s => (s.Key, Worth: Proven(s.Value, now) ? double.MaxValue : Math.Floor(Decayed(s.Value, now)), s.Value.LastSeen))
            .ToList();
        candidates.Sort((a, b) => a.Worth != b.Worth ? a.Worth.CompareTo(b.Worth) : a.LastSeen.CompareTo(b.LastSeen));
        foreach (var (key, _, _) in candidates.Take(Math.Max(1, _options.MaxSources / 10)))
        {
            _sources.Remove(key);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _log.Dispose();

    /// <summary>One handshake's slot: given back once, as a success (the handshake completed) or a failure (anything else).</summary>
    internal sealed class Ticket(HandshakeAdmission admission, SourceAddress source, Source entry)
    {
        private int _completed;

        public void Complete(bool succeeded)
        {
            if (Interlocked.Exchange(ref _completed, 1) == 0)
            {
                admission.Complete(source, entry, succeeded);
            }
        }
    }

    /// <summary>What is remembered of one source (read and written under the table's lock).</summary>
    internal sealed class Source
    {
        public int InFlight { get; set; }

        public double Score { get; set; }

        public long ScoreAt { get; set; }

        public long LastSeen { get; set; }

        public long? ProvenAt { get; set; }

        /// <summary>A penalty was logged and the score has not decayed to half the threshold since.</summary>
        public bool Penalty { get; set; }
    }
}
