using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MtlsAspire.Verification.Storage;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// Holds the current <see cref="MtlsCredentials"/> and swaps in a new generation when the files change: a file
/// watcher triggers a check at once and a timer (on the injected <see cref="TimeProvider"/>) checks every
/// <see cref="MtlsOptions.ReloadInterval"/>. A new set is validated first; a bad or half-written set is refused,
/// logged and counted, and the current one keeps serving. The first load happens at construction: a service
/// whose credentials are unusable fails at start with the reason.
/// </summary>
public sealed class MtlsCredentialStore : IDisposable
{
    private readonly MtlsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<MtlsCredentialStore> _logger;
    private readonly MtlsTelemetry _telemetry;
    private readonly CredentialDirectory _directory;
    private readonly KnownIntermediates _knownIntermediates = new();
    private readonly Lock _reloadLock = new();
    private readonly ITimer _timer;
    private readonly FileSystemWatcher? _watcher;
    private MtlsCredentials _current;
    private string _fingerprint;
    private string? _refusedFingerprint;

    /// <summary>Loads the credentials and starts watching them.</summary>
    public MtlsCredentialStore(IOptions<MtlsOptions> options, TimeProvider time, ILogger<MtlsCredentialStore> logger, MtlsTelemetry telemetry)
    {
        _options = options.Value;
        _time = time;
        _logger = logger;
        _telemetry = telemetry;
        _directory = new CredentialDirectory(_options.CredentialsDirectory);
        _fingerprint = Fingerprint();
        try
        {
            _current = MtlsCredentials.Load(_directory.Read(), _directory.Path, _options, 1, _knownIntermediates, time.GetUtcNow(), telemetry);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"mTLS credentials in Mtls:CredentialsDirectory '{_directory.Path}' are not usable: {e.Message}", e);
        }

        MtlsLog.CredentialsLoaded(_logger, _current.Identity.ToString(), _current.Leaf.SerialNumber, _current.Leaf.NotAfter.ToUniversalTime(), _current.Generation);
        using (var loaded = MtlsTelemetry.ActivitySource.StartActivity("mtls.credentials.load"))
        {
            loaded?.AddEvent(new ActivityEvent("mtls.credentials.loaded", tags: new ActivityTagsCollection
            {
                ["spiffe_id"] = _current.Identity.ToString(),
                ["serial"] = _current.Leaf.SerialNumber,
                ["generation"] = _current.Generation,
            }));
        }

        _telemetry.ObserveCredentials(() => Volatile.Read(ref _current));
        _timer = time.CreateTimer(_ => SafeReload(), null, _options.ReloadInterval, _options.ReloadInterval);
        try
        {
            _watcher = new FileSystemWatcher(_directory.Path)
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite,
                EnableRaisingEvents = true,
            };
            _watcher.Created += (_, _) => SafeReload();
            _watcher.Renamed += (_, _) => SafeReload();
            _watcher.Changed += (_, _) => SafeReload();
        }
        catch (Exception e) when (e is IOException or PlatformNotSupportedException)
        {
            _watcher = null; // the timer still notices changes
        }
    }

    /// <summary>The generation in use for new handshakes.</summary>
    public MtlsCredentials Current => Volatile.Read(ref _current);

    /// <summary>Raised after a new generation is swapped in.</summary>
    public event Action<MtlsCredentials>? Changed;

    /// <summary>Raised when an intermediate becomes known: one of ours, or one of a peer chain that validated.</summary>
    internal event Action? IntermediateLearned
    {
        add => _knownIntermediates.Added += value;
        remove => _knownIntermediates.Added -= value;
    }

    /// <summary>
    /// The intermediates known now (ours and those of peer chains that validated): path-building hints for chains
    /// whose peer sent only its leaf; trust still needs a root of ca.crt.
    /// </summary>
    internal IReadOnlyList<System.Security.Cryptography.X509Certificates.X509Certificate2> KnownIntermediates => _knownIntermediates.Snapshot();

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
                next = MtlsCredentials.Load(_directory.Read(), _directory.Path, _options, previous.Generation + 1, _knownIntermediates, _time.GetUtcNow(), _telemetry);
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

            _fingerprint = fingerprint;
            _refusedFingerprint = null;
            Volatile.Write(ref _current, next);
            MtlsLog.CredentialsRotated(_logger, previous.Leaf.SerialNumber, next.Leaf.SerialNumber, next.Leaf.NotAfter.ToUniversalTime(), next.Generation);
            _telemetry.Rotated();
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

    private static string ReasonTag(Exception e) => e.Message switch
    {
        var m when m.Contains("does not match", StringComparison.Ordinal) => "key-mismatch",
        var m when m.Contains("crl.pem", StringComparison.Ordinal) => "crl",
        var m when m.Contains("does not validate", StringComparison.Ordinal) => "chain",
        _ => "unreadable",
    };

    /// <summary>What identifies the files' current state: the resolved generation and each file's size and time.</summary>
    private string Fingerprint()
    {
        var generation = _directory.ResolveCurrentGeneration();
        var parts = CredentialFiles.FileNames.Select(name =>
        {
            var file = new FileInfo(Path.Combine(generation, name));
            return file.Exists ? $"{name}:{file.Length}:{file.LastWriteTimeUtc.Ticks}" : $"{name}:-";
        });
        return generation + "|" + string.Join('|', parts);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _timer.Dispose();
        _watcher?.Dispose();
    }
}
