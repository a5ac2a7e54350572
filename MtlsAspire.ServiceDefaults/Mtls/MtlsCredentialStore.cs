using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MtlsAspire.Verification.Status;
using MtlsAspire.Verification.Storage;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// Holds the current <see cref="MtlsCredentials"/> and swaps in a new generation when the files change: a file
/// watcher triggers a check at once and a timer (on the injected <see cref="TimeProvider"/>) checks every
/// <see cref="MtlsOptions.ReloadInterval"/>. A new set is validated first; a bad or half-written set is refused,
/// logged and counted, and the current one keeps serving. The first load happens at construction: a service
/// whose credentials are unusable fails at start with the reason. With <see cref="MtlsOptions.TrustBundleFile"/> or
/// <see cref="MtlsOptions.CrlFile"/>, those files are read, fingerprinted and watched (their directories) in the same way.
/// </summary>
public sealed class MtlsCredentialStore : IDisposable
{
    private readonly MtlsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<MtlsCredentialStore> _logger;
    private readonly MtlsTelemetry _telemetry;
    private readonly CredentialDirectory _directory;
    private readonly KnownIntermediates _knownIntermediates;
    private readonly Lock _reloadLock = new();
    private readonly ITimer _timer;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly Lock _expiryLock = new();
    private readonly ExpiryPolicy _expiryPolicy;
    private MtlsCredentials _current;
    private string _fingerprint;
    private string? _refusedFingerprint;
    private (long Generation, int Severity) _expiryReported;
    private long _lastOnDemandTicks = long.MinValue;

    /// <summary>At most one on-demand check of the files per this interval (on the injected clock), whatever a flood of peers asks.</summary>
    internal static readonly TimeSpan OnDemandInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a handshake waits for a reload under way before judging with what it has.</summary>
    private static readonly TimeSpan s_onDemandWait = TimeSpan.FromSeconds(2);

    /// <summary>Loads the credentials and starts watching them.</summary>
    public MtlsCredentialStore(IOptions<MtlsOptions> options, TimeProvider time, ILogger<MtlsCredentialStore> logger, MtlsTelemetry telemetry)
    {
        _options = options.Value;
        _knownIntermediates = new KnownIntermediates(_options.StrangerChainBudgetBytes, _options.MaxPeerCertificateBytes);
        _time = time;
        _logger = logger;
        _telemetry = telemetry;
        _directory = new CredentialDirectory(_options.CredentialsDirectory, NullIfBlank(_options.TrustBundleFile), NullIfBlank(_options.CrlFile));
        _expiryPolicy = _options.Expiry.Policy;
        _fingerprint = Fingerprint();
        try
        {
            _current = MtlsCredentials.Load(_directory.Read(), _directory, _options, 1, _knownIntermediates, time.GetUtcNow(), telemetry);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            var settings = $"Mtls:CredentialsDirectory '{_directory.Path}'"
                + (_directory.BundleFile is { } bundle ? $", Mtls:TrustBundleFile '{bundle}'" : string.Empty)
                + (_directory.CrlFile is { } crl ? $", Mtls:CrlFile '{crl}'" : string.Empty);
            throw new InvalidOperationException($"mTLS credentials in {settings} are not usable: {e.Message}", e);
        }

        MtlsLog.CredentialsLoaded(_logger, _current.Identity.ToString(), _current.Leaf.SerialNumber, _current.Leaf.NotAfter.ToUniversalTime(), _current.Generation);
        ReportMissingCrl(_current);
        using (var loaded = MtlsTelemetry.ActivitySource.StartActivity("mtls.credentials.load"))
        {
            loaded?.AddEvent(new ActivityEvent("mtls.credentials.loaded", tags: new ActivityTagsCollection
            {
                ["spiffe_id"] = _current.Identity.ToString(),
                ["serial"] = _current.Leaf.SerialNumber,
                ["generation"] = _current.Generation,
            }));
        }

        _telemetry.ObserveCredentials(() => Volatile.Read(ref _current), _expiryPolicy);
        CheckExpiry();
        _timer = time.CreateTimer(_ =>
        {
            SafeReload();
            CheckExpiry();
        }, null, _options.ReloadInterval, _options.ReloadInterval);
        if (!_options.WatchFiles)
        {
            return;
        }

        // The separate files' directories too: Kubernetes swaps a ConfigMap's ..data link by a rename there.
        string?[] watched = [_directory.Path, Path.GetDirectoryName(_directory.BundleFile), Path.GetDirectoryName(_directory.CrlFile)];
        foreach (var directory in watched.OfType<string>().Distinct(StringComparer.Ordinal))
        {
            try
            {
                var watcher = new FileSystemWatcher(directory)
                {
                    NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite,
                    EnableRaisingEvents = true,
                };
                watcher.Created += (_, _) => SafeReload();
                watcher.Renamed += (_, _) => SafeReload();
                watcher.Changed += (_, _) => SafeReload();
                _watchers.Add(watcher);
            }
            catch (Exception e) when (e is IOException or PlatformNotSupportedException or ArgumentException)
            {
                // the timer still notices changes
            }
        }
    }

    /// <summary>The generation in use for new handshakes.</summary>
    public MtlsCredentials Current => Volatile.Read(ref _current);

    /// <summary>Raised after a new generation is swapped in.</summary>
    public event Action<MtlsCredentials>? Changed;

    /// <summary>
    /// The intermediates known now (ours and those of peer chains that validated): path-building hints for chains
    /// whose peer sent only its leaf; trust still needs a root of ca.crt.
    /// </summary>
    internal IReadOnlyList<System.Security.Cryptography.X509Certificates.X509Certificate2> KnownIntermediates => _knownIntermediates.Snapshot();

    /// <summary>The expiry thresholds (<c>Mtls:Expiry</c>).</summary>
    public ExpiryPolicy ExpiryPolicy => _expiryPolicy;

    /// <summary>The expiry verdict of the leaf in use, now (the store's clock).</summary>
    public ExpiryStatus Expiry() => Current.Expiry(_expiryPolicy, _time.GetUtcNow());

    /// <summary>What the generation in use is, as <c>/mtls/status</c> reports it.</summary>
    public CredentialStatus Status() => Current.Status(_expiryPolicy, _time.GetUtcNow());

    /// <summary>
    /// Logs and counts the leaf crossing an expiry threshold: once per crossing per generation (Warning for the warning
    /// threshold, Error beyond). Runs at load, at every swap and on every reload timer tick.
    /// </summary>
    internal void CheckExpiry()
    {
        var current = Current;
        var expiry = current.Expiry(_expiryPolicy, _time.GetUtcNow());
        var severity = MtlsTelemetry.StateValue(expiry.State);
        lock (_expiryLock)
        {
            var reported = _expiryReported.Generation == current.Generation ? _expiryReported.Severity : 0;
            _expiryReported = (current.Generation, severity);
            if (severity <= reported)
            {
                return;
            }
        }

        var lifetime = current.Leaf.NotAfter - current.Leaf.NotBefore;
        var level = expiry.State == ExpiryState.Warning ? LogLevel.Warning : LogLevel.Error;
        var self = current.Identity.ServiceName ?? current.Identity.ToString();
        var state = MtlsTelemetry.LevelTag(expiry.State);
        var notAfter = new DateTimeOffset(current.Leaf.NotAfter.ToUniversalTime());
        var remaining = MtlsAspire.Verification.Durations.Describe(expiry.Remaining) + (expiry.Remaining < TimeSpan.Zero ? " past" : string.Empty);
        var threshold = expiry.State is ExpiryState.Warning or ExpiryState.Critical
            ? MtlsAspire.Verification.Durations.Describe(_expiryPolicy.ThresholdOf(expiry.State, lifetime))
            : expiry.State == ExpiryState.Expired ? "notAfter" : "notBefore";
        MtlsLog.ExpiryThresholdCrossed(_logger, level, self, state, current.Leaf.SerialNumber, notAfter, remaining, threshold, current.Generation, expiry.Detail);
        _telemetry.ExpiryCrossed(expiry.State);
    }

    /// <summary>
    /// Judges a peer with <paramref name="credentials"/> (the generation the handshake started with) and, when it is
    /// refused for want of a CRL of its issuer (a brand-new intermediate) or of its root (a root just added to ca.crt),
    /// checks the files at once (<see cref="ReloadOnDemand"/>) and judges it again with a newer generation, if one came
    /// in, before refusing. Returns the verdict and the generation that gave it.
    /// </summary>
    internal (PeerVerdict Verdict, MtlsCredentials JudgedBy) Judge(MtlsCredentials credentials, PeerCertificate peer, PeerSide side,
        Verification.Identity.SpiffeId expectedServer = default)
    {
        var verdict = credentials.Validate(peer, side, _time.GetUtcNow(), expectedServer);
        if (verdict.Accepted || verdict.Reason is not (RejectionReason.CrlUnavailable or RejectionReason.UnknownCa)
            || !ReloadOnDemand(credentials.Generation, verdict.Reason.Value.ToTagValue()))
        {
            return (verdict, credentials);
        }

        var current = Current;
        return (current.Validate(peer, side, _time.GetUtcNow(), expectedServer), current);
    }

    /// <summary>
    /// For a peer just refused by generation <paramref name="judgedGeneration"/> for want of a CRL or a root: checks the
    /// files now, unless a check ran less than <see cref="OnDemandInterval"/> ago (then waits, briefly, for one under
    /// way). Returns true when a newer generation than the one judged is in use, so the peer deserves a second look.
    /// </summary>
    internal bool ReloadOnDemand(long judgedGeneration, string reason)
    {
        if (Current.Generation > judgedGeneration)
        {
            return true;
        }

        var now = _time.GetUtcNow().UtcTicks;
        var last = Interlocked.Read(ref _lastOnDemandTicks);
        var due = last == long.MinValue || now - last >= OnDemandInterval.Ticks || now < last;
        if (!due || Interlocked.CompareExchange(ref _lastOnDemandTicks, now, last) != last)
        {
            // A check ran a moment ago or is running: wait for one under way, never for long, and look again.
            if (_reloadLock.TryEnter(s_onDemandWait))
            {
                _reloadLock.Exit();
            }

            _telemetry.OnDemandReload("rate-limited");
            return Current.Generation > judgedGeneration;
        }

        if (_reloadLock.TryEnter(s_onDemandWait))
        {
            try
            {
                SafeReload();
            }
            finally
            {
                _reloadLock.Exit();
            }
        }

        var loaded = Current.Generation > judgedGeneration;
        _telemetry.OnDemandReload(loaded ? "loaded" : "unchanged");
        MtlsLog.ReloadedOnDemand(_logger, loaded ? "loaded" : "unchanged", reason, judgedGeneration);
        return loaded;
    }

    /// <summary>The directory being watched.</summary>
    public string DirectoryPath => _directory.Path;

    /// <summary>
    /// Checks the files now; swaps in a new generation when they changed and validate. Returns true when a new
    /// generation was swapped in.
    /// </summary>
    public bool TryReload()
    {
        lock (_reloadLock)
        {
            string fingerprint;
            try
            {
                fingerprint = Fingerprint();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return false; // mid-swap; the next tick sees the settled state
            }

            if (fingerprint == _fingerprint || fingerprint == _refusedFingerprint)
            {
                return false;
            }

            var previous = Volatile.Read(ref _current);
            using var activity = MtlsTelemetry.ActivitySource.StartActivity("mtls.credentials.reload");
            MtlsCredentials next;
            try
            {
                next = MtlsCredentials.Load(_directory.Read(), _directory, _options, previous.Generation + 1, _knownIntermediates, _time.GetUtcNow(), _telemetry);
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                _refusedFingerprint = fingerprint;
                MtlsLog.CredentialsRefused(_logger, _directory.Path, e.Message, previous.Leaf.SerialNumber);
                _telemetry.ReloadRefused(ReasonTag(e));
                activity?.AddEvent(new ActivityEvent("mtls.credentials.refused", tags: new ActivityTagsCollection { ["reason"] = e.Message }));
                activity?.SetStatus(ActivityStatusCode.Error, e.Message);
                return false;
            }

            if (OlderCrl(previous, next) is { } older)
            {
                // Revocation never goes backwards: a CRL numbered below the one in use for the same CA is an older
                // publisher's write that landed last (two runs at once), and it may lack a serial revoked since.
                _refusedFingerprint = fingerprint;
                MtlsLog.CredentialsRefused(_logger, _directory.Path, older, previous.Leaf.SerialNumber);
                _telemetry.ReloadRefused("crl");
                activity?.SetStatus(ActivityStatusCode.Error, older);
                return false;
            }

            if (next.OwnRevocation is { } revoked)
            {
                // Said before the swap, so that whoever sees the new generation can also find why it is refused.
                MtlsLog.OwnCertificateRevoked(_logger, _directory.Path, revoked, next.Leaf.SerialNumber);
            }

            _fingerprint = fingerprint;
            _refusedFingerprint = null;
            Volatile.Write(ref _current, next);

            MtlsLog.CredentialsRotated(_logger, previous.Leaf.SerialNumber, next.Leaf.SerialNumber, next.Leaf.NotAfter.ToUniversalTime(), next.Generation);
            ReportMissingCrl(next);
            _telemetry.Rotated();
            CheckExpiry();
            activity?.AddEvent(new ActivityEvent("mtls.credentials.rotated", tags: new ActivityTagsCollection
            {
                ["serial.previous"] = previous.Leaf.SerialNumber,
                ["serial"] = next.Leaf.SerialNumber,
                ["generation"] = next.Generation,
            }));
            foreach (var subscriber in Changed?.GetInvocationList() ?? [])
            {
                try
                {
                    ((Action<MtlsCredentials>)subscriber).Invoke(next);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // A subscriber's failure must not stop the others or crash the reload thread.
                    MtlsLog.CredentialsRefused(_logger, _directory.Path, $"a subscriber failed to apply generation {next.Generation}: {e.Message}", next.Leaf.SerialNumber);
                }
            }

            // The previous generation's certificates stay referenced by connections already made; they are
            // released with it once no handshake uses it (no explicit dispose, which could break one in flight).
            return true;
        }
    }

    /// <summary>For timer and watcher threads: an unexpected failure is logged, never thrown into the thread pool.</summary>
    private void SafeReload()
    {
        try
        {
            TryReload();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            MtlsLog.CredentialsRefused(_logger, _directory.Path, $"unexpected {e.GetType().Name}: {e.Message}", Current.Leaf.SerialNumber);
            _telemetry.ReloadRefused("unexpected");
        }
    }

    /// <summary>Only a separate <see cref="MtlsOptions.CrlFile"/> can leave a set without CRLs; every peer is refused meanwhile.</summary>
    private void ReportMissingCrl(MtlsCredentials credentials)
    {
        if (credentials.Crls.Count == 0)
        {
            MtlsLog.NoCrl(_logger, _directory.CrlSource, credentials.Generation);
        }
    }

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    /// <summary>Why <paramref name="next"/> holds a CRL older (a lower CRL number) than <paramref name="previous"/> for the same CA, or null.</summary>
    private static string? OlderCrl(MtlsCredentials previous, MtlsCredentials next)
    {
        foreach (var candidate in next.Crls)
        {
            if (BigInteger.TryParse(candidate.Number, CultureInfo.InvariantCulture, out var number)
                && previous.Crls.FirstOrDefault(c => c.Issuer == candidate.Issuer) is { Number: { } loadedText }
                && BigInteger.TryParse(loadedText, CultureInfo.InvariantCulture, out var loaded) && number < loaded)
            {
                return $"crl.pem holds CRL #{number} of '{candidate.Issuer}', older than #{loaded} in use (an earlier publisher run wrote last); keeping #{loaded}";
            }
        }

        return null;
    }

    private string ReasonTag(Exception e) => e.Message switch
    {
        var m when m.Contains("does not match", StringComparison.Ordinal) => "key-mismatch",
        var m when m.Contains("crl.pem", StringComparison.Ordinal) || (_directory.CrlFile is { } crl && m.Contains(crl, StringComparison.Ordinal)) => "crl",
        var m when m.Contains("does not validate", StringComparison.Ordinal) => "chain",
        _ => "unreadable",
    };

    /// <summary>
    /// What identifies the files' current state: each file's resolved path (its generation; for a separate bundle or CRL
    /// file, its own <c>..data</c> generation), size and time.
    /// </summary>
    private string Fingerprint() => string.Join('|', _directory.ResolveCurrentFiles().Select(path =>
    {
        var file = new FileInfo(path);
        return file.Exists ? $"{path}:{file.Length}:{file.LastWriteTimeUtc.Ticks}" : $"{path}:-";
    }));

    /// <inheritdoc />
    public void Dispose()
    {
        _timer.Dispose();
        foreach (var watcher in _watchers)
        {
            watcher.Dispose();
        }
    }
}
