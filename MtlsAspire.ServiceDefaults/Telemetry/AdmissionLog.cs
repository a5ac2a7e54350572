using System.Globalization;
using Microsoft.Extensions.Logging;
using MtlsAspire.ServiceDefaults.Mtls;

namespace MtlsAspire.ServiceDefaults.Telemetry;

/// <summary>
/// The logs of <see cref="HandshakeAdmission"/>, bounded however hard it is flooded: a source becoming penalised is
/// logged (the first <see cref="MtlsRefusalLogOptions.PerWindow"/> of each window), and refused connections never one by
/// one, only in one summary per window (<c>Mtls:RefusalLogs:Window</c>) that counts them by reason and names the last.
/// <c>mtls.handshake.admission</c> counts every refusal.
/// </summary>
internal sealed partial class AdmissionLog : IDisposable
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly MtlsRefusalLogOptions _limits;
    private readonly MtlsAdmissionOptions _admission;
    private readonly ITimer _flush;
    private DateTimeOffset _windowStart;
    private long _penalised;
    private long _sourceConcurrency;
    private long _concurrency;
    private int _penaltiesLogged;
    private long _penaltiesNotLogged;
    private (SourceAddress Source, string Reason) _last;

    public AdmissionLog(TimeProvider time, ILogger logger, MtlsRefusalLogOptions limits, MtlsAdmissionOptions admission)
    {
        _time = time;
        _logger = logger;
        _limits = limits;
        _admission = admission;
        _windowStart = time.GetUtcNow();
        _flush = time.CreateTimer(_ => Flush(), null, limits.Window, limits.Window);
    }

    /// <summary>One connection closed before TLS: counted for the window's summary.</summary>
    public void Refused(SourceAddress source, string reason)
    {
        lock (_lock)
        {
            switch (reason)
            {
                case "penalised": _penalised++; break;
                case "source-concurrency": _sourceConcurrency++; break;
                default: _concurrency++; break;
            }

            // Formatted only in the summary: a refusal must cost next to nothing.
            _last = (source, reason);
        }
    }

    /// <summary>A source reached the penalty: logged, unless this window already logged its share.</summary>
    public void Penalised(SourceAddress source, double score)
    {
        lock (_lock)
        {
            if (_penaltiesLogged >= _limits.PerWindow)
            {
                _penaltiesNotLogged++;
                return;
            }

            _penaltiesLogged++;
        }

        SourcePenalised(_logger, source.ToString(), score.ToString("0.0", CultureInfo.InvariantCulture), _admission.FailuresBeforePenalty, _admission.PenaltyHalfLife);
    }

    /// <summary>Ends the window: its summary, if anything was refused or not logged.</summary>
    internal void Flush()
    {
        long penalised, sourceConcurrency, concurrency, notLogged;
        (SourceAddress Source, string Reason) last;
        TimeSpan elapsed;
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            (penalised, sourceConcurrency, concurrency, notLogged, last, elapsed) =
                (_penalised, _sourceConcurrency, _concurrency, _penaltiesNotLogged, _last, now - _windowStart);
            _windowStart = now;
            _penalised = _sourceConcurrency = _concurrency = _penaltiesNotLogged = 0;
            _penaltiesLogged = 0;
        }

        if (penalised + sourceConcurrency + concurrency + notLogged > 0)
        {
            RefusedBeforeTls(_logger, penalised + sourceConcurrency + concurrency, elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture),
                penalised, sourceConcurrency, concurrency, notLogged, last.Reason is null ? "-" : $"{last.Source} ({last.Reason})");
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _flush.Dispose();
        Flush();
    }

    [LoggerMessage(30, LogLevel.Warning,
        "mTLS admission penalised {Source}: its failed handshakes reached a score of {Score} (Mtls:Admission:FailuresBeforePenalty is {Threshold}), so its new connections are closed before TLS until the score, halving every {HalfLife} (Mtls:Admission:PenaltyHalfLife), falls below it. The failures themselves are in the refusal logs and mtls.handshake.failures")]
    private static partial void SourcePenalised(ILogger logger, string source, string score, int threshold, TimeSpan halfLife);

    [LoggerMessage(31, LogLevel.Warning,
        "mTLS admission closed {Refused} connections before TLS in the last {Seconds} s: {Penalised} from penalised sources, {SourceConcurrency} over Mtls:Admission:MaxHandshakesPerSource, {Concurrency} over Mtls:Admission:MaxConcurrentHandshakes; {PenaltiesNotLogged} more sources penalised without a log of their own. The last: {Last}. mtls.handshake.admission counts every one")]
    private static partial void RefusedBeforeTls(ILogger logger, long refused, string seconds, long penalised, long sourceConcurrency, long concurrency,
        long penaltiesNotLogged, string last);
}
