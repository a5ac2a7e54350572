using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Fleet;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification.Identity;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification;
using MtlsAspire.Verification.Status;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.Hosting;

/// <summary>What happened to a leaf, for the timeline and the resource's properties.</summary>
/// <param name="Service">The resource the leaf belongs to.</param>
/// <param name="Verb">issued, renewed, re-issued, revoked and re-issued, …</param>
/// <param name="Leaf">The new leaf.</param>
internal sealed record LeafChange(string Service, string Verb, IssuedLeaf Leaf);

/// <summary>Requests seen by a traffic source (the shopper) so far.</summary>
/// <param name="Succeeded">Requests answered without a server error.</param>
/// <param name="Failed">Requests that failed (an exception, a refused handshake, a 5xx).</param>
internal readonly record struct TrafficCount(long Succeeded, long Failed);

/// <summary>
/// The AppHost's side of the certificate lifecycle: create the PKI on the first run (reuse it later), give every
/// identity a current leaf, renew each at 2/3 of its lifetime, move leaves to a new intermediate progressively, republish
/// the CRLs before they go stale, watch expiry, echo what other processes (the CLI) did, and carry out the dashboard's
/// commands. Ledger work is one operation at a time in this process (the renewal loop and commands share the CA);
/// rotations are also one at a time across processes (<see cref="OperationLock"/>). Every clock read goes through the
/// <see cref="TimeProvider"/>; every step is a line of <paramref name="timeline"/>.
/// </summary>
internal sealed class CertificateLifecycle(PkiOptions options, PassphraseSource passphrase, TimeProvider time, ILogger timeline) : IDisposable
{
    private static readonly TimeSpan s_tick = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ConcurrentDictionary<string, ExpiryStatus> _expiry = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _renewalFailures = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TimeSpan> _jitter = new(StringComparer.Ordinal);
    private DateTimeOffset _crlsPublishedAt;
    private CertificateAuthority? _authority;
    private long _lastEventId;
    private IReadOnlyList<FleetMember> _fleet = [];
    private string? _operation;
    private string? _activity;
    private string? _expiringIntermediate;
    private CancellationTokenSource? _rootRotation;

    /// <summary>Raised after a leaf was written (under the lifecycle's lock: keep handlers short).</summary>
    public event Action<LeafChange>? LeafChanged;

    /// <summary>Raised after the CAs, CRLs or the operation under way changed.</summary>
    public event Action? AuthorityChanged;

    /// <summary>Raised after every service was asked what it has loaded.</summary>
    public event Action<IReadOnlyList<FleetMember>>? FleetObserved;

    /// <summary>Raised when a service's expiry state changes (service, new state).</summary>
    public event Action<string, ExpiryStatus>? ExpiryChanged;

    public CertificateAuthority Authority => _authority ?? throw new InvalidOperationException("The PKI has not been bootstrapped yet.");

    public bool IsReady => _authority is not null;

    /// <summary>The running services, asked what they loaded (<c>/mtls/status</c>); null: nobody is asked (nothing waits).</summary>
    public IFleet? Fleet { get; set; }

    /// <summary>What every service reported at the last tick.</summary>
    public IReadOnlyList<FleetMember> LatestFleet => Volatile.Read(ref _fleet);

    /// <summary>The rotation under way (in this process or another), or the root rotation's step; null when idle.</summary>
    public string? Activity => Volatile.Read(ref _operation) ?? Volatile.Read(ref _activity);

    /// <summary>The intermediate CRL last published (number and next update for the dashboard).</summary>
    public RevocationList? LastIntermediateCrl { get; private set; }

    /// <summary>The lifecycle's clock (the injected <see cref="TimeProvider"/>).</summary>
    public DateTimeOffset Now => time.GetUtcNow();

    /// <summary>When the intermediate CRL last published went stale, if it has.</summary>
    public DateTimeOffset? CrlStaleSince => LastIntermediateCrl?.NextUpdate is { } next && next <= Now ? next : null;

    /// <summary>The expiry state of <paramref name="service"/> (the worse of what the ledger and the service itself say), if known.</summary>
    public ExpiryStatus? ExpiryOf(string service) => _expiry.TryGetValue(service, out var status) ? status : null;

    /// <summary>
    /// The services whose last renewal tick failed, with when and why (a read-only or full PKI directory, say); a service
    /// leaves the list at its next tick that goes through. Their services keep serving the generation they have.
    /// </summary>
    public IReadOnlyDictionary<string, string> RenewalFailures => _renewalFailures;

    /// <summary>Creates or opens the PKI, rotates an intermediate that is missing or about to expire, republishes the CRLs.</summary>
    public Task BootstrapAsync(CancellationToken cancellationToken) => LockedAsync(() =>
    {
        SecureFiles.CreatePrivateDirectory(options.StateDirectory);
        CertificateAuthority authority;
        if (File.Exists(options.Layout.SettingsFile))
        {
            authority = CertificateAuthority.Open(options.PkiDirectory, passphrase, time);
            timeline.LogInformation("PKI reused from {Directory} (trust domain {TrustDomain})", options.PkiDirectory, authority.Settings.TrustDomain);
        }
        else
        {
            var settings = new PkiSettings { TrustDomain = options.TrustDomain, Environment = options.Environment, LeafLifetime = options.LeafLifetime };
            (authority, var created) = CertificateAuthority.Initialize(options.PkiDirectory, settings, passphrase, time);
            timeline.LogInformation("PKI created in {Directory}: root {RootSubject} (serial {RootSerial}), intermediate {IntermediateSubject} (serial {IntermediateSerial})",
                options.PkiDirectory, created.Root.Subject, created.Root.Serial, created.Intermediate.Subject, created.Intermediate.Serial);
            if (created.GeneratedPassphraseFile is { } file)
            {
                timeline.LogInformation("root key passphrase generated into {File} (mode 0600); set MTLS_ROOT_PASSPHRASE to supply your own", file);
            }
        }

        var now = time.GetUtcNow();
        var intermediate = authority.Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active) is [.., var active] ? active : null;
        if (intermediate is null || now > intermediate.NotAfter - TimeSpan.FromDays(7))
        {
            var (rotated, _) = authority.RotateIntermediate();
            timeline.LogInformation("intermediate CA rotated: serial {Serial}, valid until {NotAfter:u} (the previous one was missing, revoked or about to expire)",
                rotated.Serial, rotated.NotAfter);
        }

        if (authority.RootRotation() is { Phase: not RootRotationPhase.None } rotation)
        {
            timeline.LogWarning("a root rotation was left half-way: {State}. Run the pki command 'Rotate root' (or rotate-root) to finish it; both roots stay trusted meanwhile", rotation.Describe());
        }

        if (options.Expiry.WarningFraction >= 0.3)
        {
            timeline.LogWarning("MtlsAspire:Expiry:WarningFraction is {Fraction}: leaves are renewed with a third of their lifetime left (their notBefore is back-dated for clock skew), so every service may show Degraded for a moment before each routine renewal. Below 0.3 it warns only when renewal is late",
                options.Expiry.WarningFraction);
        }

        PublishCrlsLocked(authority);
        _lastEventId = authority.Ledger.LastEventId();
        _authority = authority; // ready only once everything above succeeded (a wrong root passphrase fails the CRL step)
    }, cancellationToken);

    /// <summary>Gives <paramref name="service"/> a current leaf: issues one when it has none, its files are gone, it is due or its lifetime changed.</summary>
    public Task<LedgerEntry> EnsureLeafAsync(string service, CancellationToken cancellationToken) => LockedAsync(() =>
    {
        var leaf = Authority.Ledger.ActiveLeaf(service);
        var now = time.GetUtcNow();
        if (leaf is null || !File.Exists(Path.Combine(options.Layout.ServiceDirectory(service), "tls.crt")) || IsDue(leaf, now) || leaf.Lifetime != options.LeafLifetime)
        {
            return IssueLocked(service, leaf is null ? "issued" : leaf.IsExpired(now) ? "re-issued (the previous one had expired)" : "renewed").Entry;
        }

        Raise(new LeafChange(service, "current", LeafOf(leaf)));
        return leaf;
    }, cancellationToken);

    /// <summary>
    /// Every second: asks the services what they loaded, renews what is due, moves leaves to the active intermediate,
    /// republishes CRLs, evaluates expiry and echoes what other processes did; until <paramref name="cancellationToken"/> fires.
    /// </summary>
    public async Task RunAsync(Func<IReadOnlyList<string>> services, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(s_tick, time);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            // Each part on its own: whatever goes wrong in one (a busy ledger, a full disk, a service that answers
            // nonsense) must not stop the others, or leaves would expire and CRLs go stale silently.
            await TickAsync("asking the services what they loaded", () => ObserveFleetAsync(cancellationToken)).ConfigureAwait(false);
            await TickAsync("renewal", () => RenewDueAsync(services(), cancellationToken)).ConfigureAwait(false);
            await TickAsync("reading what other processes did", () => LockedAsync(() => EchoOtherProcesses(services()), cancellationToken)).ConfigureAwait(false);
            await TickAsync("reading the operation under way", () =>
            {
                UpdateActivity();
                return Task.CompletedTask;
            }).ConfigureAwait(false);
        }

        async Task TickAsync(string what, Func<Task> part)
        {
            try
            {
                await part().ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                timeline.LogWarning("{What} failed, will retry at the next tick: {Message}", what, e.Message);
            }
        }
    }

    /// <summary>Asks every service what it has loaded now.</summary>
    public async Task ObserveFleetAsync(CancellationToken cancellationToken)
    {
        if (Fleet is not { } fleet)
        {
            return;
        }

        var members = await fleet.ObserveAsync(cancellationToken).ConfigureAwait(false);
        Volatile.Write(ref _fleet, members);
        Safely(() => FleetObserved?.Invoke(members), "show what the services loaded");
    }

    /// <summary>One pass of the renewal loop.</summary>
    public Task RenewDueAsync(IReadOnlyList<string> services, CancellationToken cancellationToken) => LockedAsync(() =>
    {
        var now = time.GetUtcNow();
        var active = Authority.Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active) is [.., var a] ? a : null;
        if (active is not null && now > active.NotAfter - IntermediateRenewBefore && _expiringIntermediate != active.Serial)
        {
            active = RotateExpiringIntermediate(active) ?? active;
        }

        foreach (var service in services)
        {
            try
            {
                // A service with no leaf yet gets its first one just before it starts (EnsureLeafAsync), not from here.
                if (Authority.Ledger.ActiveLeaf(service) is not { } leaf)
                {
                    continue;
                }

                if (IsDue(leaf, now))
                {
                    leaf = IssueLocked(service, leaf.IsExpired(now) ? "re-issued (the previous one had expired)" : "renewed").Entry;
                }
                else if (active is not null && leaf.IssuerSerial != active.Serial && MayMove(service, active, now))
                {
                    leaf = IssueLocked(service, $"moved to the intermediate {active.Subject}").Entry;
                }

                EvaluateExpiry(service, leaf, now);
                _renewalFailures.TryRemove(service, out _);
            }
            catch (Exception e) when (e is PkiException or IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException)
            {
                // One service's trouble (its directory unwritable, say) must not stop the others' renewals or the CRLs.
                timeline.LogWarning("renewal of {Service} failed, will retry at the next tick: {Message}", service, e.Message);
                _renewalFailures[service] = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"at {now:u}: {e.Message}");
            }
        }

        if (now - _crlsPublishedAt >= Authority.Settings.IntermediateCrlValidity / 2)
        {
            PublishCrlsLocked();
        }
    }, cancellationToken);

    /// <summary>An intermediate this close to its end is replaced by the renewal loop (as at start), and leaves move to the new one.</summary>
    internal static TimeSpan IntermediateRenewBefore { get; } = TimeSpan.FromDays(7);

    private LedgerEntry? RotateExpiringIntermediate(LedgerEntry expiring)
    {
        var root = Authority.Ledger.Find(expiring.IssuerSerial!);
        if (root is not null && root.NotAfter <= expiring.NotAfter + TimeSpan.FromDays(1))
        {
            // A new intermediate cannot outlive its root: rotating would only repeat every tick. The root must go.
            _expiringIntermediate = expiring.Serial;
            timeline.LogError("the intermediate {Subject} expires on {NotAfter:u} and cannot be replaced by a longer one: its root {Root} ends on {RootNotAfter:u}. Rotate the root ('Rotate root')",
                expiring.Subject, expiring.NotAfter, root.Subject, root.NotAfter);
            return null;
        }

        try
        {
            using var held = OperationLock.Acquire(options.Layout, "rotate-intermediate (renewal loop: the intermediate expires soon)", time);
            timeline.LogInformation("the intermediate {Subject} expires on {NotAfter:u}: rotating it", expiring.Subject, expiring.NotAfter);
            return RotateIntermediateLocked();
        }
        catch (PkiException)
        {
            return null; // another rotation runs: the next tick tries again
        }
    }

    /// <summary>
    /// A leaf under an older intermediate moves to the active one at its own random moment within
    /// <see cref="PkiOptions.ReissueJitter"/> of the rotation, and only once every running service has loaded the active
    /// intermediate's CRL (else a peer could refuse the new leaf for want of it).
    /// </summary>
    private bool MayMove(string service, LedgerEntry active, DateTimeOffset now)
    {
        var jitter = _jitter.GetOrAdd($"{active.Serial}/{service}", _ => options.ReissueJitter * Random.Shared.NextDouble());
        return now >= active.IssuedAt + jitter && LoadedEverywhere(s => s.Crls.Any(c => string.Equals(c.Issuer, active.Subject, StringComparison.Ordinal)));
    }

    /// <summary>Every service answered and has loaded it (one that is not running loads the files when it starts; one that does not answer has not).</summary>
    private bool LoadedEverywhere(Func<CredentialStatus, bool> loaded) =>
        LatestFleet.All(m => m.Status is { } status ? loaded(status) : m.Problem == HttpFleet.NotRunning);

    private void EvaluateExpiry(string service, LedgerEntry leaf, DateTimeOffset now)
    {
        var issued = options.Expiry.Evaluate(leaf.NotBefore, leaf.NotAfter, now);
        var reported = LatestFleet.FirstOrDefault(m => m.Service == service)?.Status?.Expiry;
        var status = reported is not null && Severity(reported.State) > Severity(issued.State) ? reported : issued;
        var previous = _expiry.TryGetValue(service, out var p) ? p : null;
        _expiry[service] = status;
        if (previous?.State == status.State)
        {
            return;
        }

        switch (status.State)
        {
            case ExpiryState.Ok when previous is not null:
                timeline.LogInformation("expiry: {Service} is no longer near expiry: {Detail}", service, status.Detail);
                break;
            case ExpiryState.Warning:
                timeline.LogWarning("expiry warning for {Service}: {Detail}", service, status.Detail);
                break;
            case ExpiryState.Critical or ExpiryState.Expired or ExpiryState.NotYetValid:
                timeline.LogError("expiry {State} for {Service}: {Detail}", status.State, service, status.Detail);
                break;
        }

        Safely(() => ExpiryChanged?.Invoke(service, status), "show the expiry state");
    }

    private static int Severity(ExpiryState state) => state switch
    {
        ExpiryState.Ok => 0,
        ExpiryState.Warning => 1,
        ExpiryState.Critical => 2,
        _ => 3,
    };

    /// <summary>Repeats on the timeline what other processes (the CLI) recorded in the ledger, and shows their effect.</summary>
    private void EchoOtherProcesses(IReadOnlyList<string> services)
    {
        var events = Authority.Ledger.EventsAfter(_lastEventId);
        if (events.Count == 0)
        {
            return;
        }

        _lastEventId = events[^1].Id;
        var foreign = events.Where(e => e.Origin != Environment.ProcessId).ToList();
        if (foreign.Count == 0)
        {
            return;
        }

        foreach (var (_, origin, e) in foreign)
        {
            timeline.LogInformation("by process {Origin} (CLI): {Detail}", origin?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?", e.Detail);
        }

        foreach (var service in foreign.Select(e => e.Event.Service).OfType<string>().Distinct(StringComparer.Ordinal).Where(services.Contains))
        {
            if (Authority.Ledger.ActiveLeaf(service) is { } leaf)
            {
                Raise(new LeafChange(service, "changed by another process", LeafOf(leaf)));
            }
        }

        RaiseAuthorityChanged();
    }

    private void UpdateActivity()
    {
        var rotation = Authority.RootRotation();
        var activity = OperationLock.CurrentHolder(options.Layout)?.Description
            ?? (rotation.Phase == RootRotationPhase.None ? null : $"root rotation half-way: {rotation.Describe()}");
        if (Interlocked.Exchange(ref _activity, activity) != activity)
        {
            RaiseAuthorityChanged();
        }
    }

    /// <summary>A new key and certificate for <paramref name="service"/> now.</summary>
    public Task<IssuedLeaf> RenewAsync(string service, CancellationToken cancellationToken) =>
        LockedAsync(() => IssueLocked(service, "renewed (on request)"), cancellationToken);

    /// <summary>
    /// Revokes the service's active leaf (key compromise) and gives it a new key and certificate, in the order that fails
    /// no request: the replacement first, then (once the service serves it, at most <see cref="ReplacementWait"/> later)
    /// the revocation and the CRLs. Revoking first would make every peer refuse the service until it swapped.
    /// </summary>
    public async Task<(LedgerEntry Revoked, IssuedLeaf Replacement)> RevokeAsync(string service, CancellationToken cancellationToken)
    {
        var (old, replacement) = await LockedAsync(() =>
        {
            var current = Authority.Ledger.ActiveLeaf(service) ?? throw new PkiException($"Service '{service}' has no active leaf to revoke.");
            return (current, IssueLocked(service, $"re-issued with a new key (serial {current.Serial} is being revoked)"));
        }, cancellationToken).ConfigureAwait(false);

        try
        {
            // Only the service itself is waited for, and for at most ReplacementWait: a leaked key must not stay trusted long.
            using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bounded.CancelAfter(ReplacementWait + TimeSpan.FromMilliseconds(500));
            await FleetWait.UntilAsync(new OnlyFleet(new ObservingFleet(this), service), "its new key and certificate",
                s => s.Leaf.Serial == replacement.Entry.Serial, ReplacementWait, time, _ => { }, bounded.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FleetStalledException || e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            timeline.LogWarning("revoking {Service}'s old certificate anyway: it did not report serving its new one within {Wait} ({Message})",
                service, Durations.Took(ReplacementWait), e.Message);
        }

        var revoked = await LockedAsync(() =>
        {
            var entry = Authority.Revoke(old.Serial, X509RevocationReason.KeyCompromise);
            timeline.LogWarning("revoked {Service}: serial {Serial} (keyCompromise); every peer refuses it once it loads the new CRL (within seconds)", service, entry.Serial);
            PublishCrlsLocked();
            return entry;
        }, cancellationToken).ConfigureAwait(false);
        return (revoked, replacement);
    }

    /// <summary>How long a revocation waits for the service to serve its replacement before revoking anyway.</summary>
    internal static TimeSpan ReplacementWait { get; } = TimeSpan.FromSeconds(2);

    /// <summary>A new intermediate under the same root; the renewal loop moves every leaf to it within seconds.</summary>
    public async Task<LedgerEntry> RotateIntermediateAsync(string by, CancellationToken cancellationToken)
    {
        using var held = OperationLock.Acquire(options.Layout, $"rotate-intermediate ({by})", time);
        return await LockedAsync(RotateIntermediateLocked, cancellationToken).ConfigureAwait(false);
    }

    private LedgerEntry RotateIntermediateLocked()
    {
        var (rotated, _) = Authority.RotateIntermediate();
        timeline.LogInformation("intermediate CA rotated: serial {Serial}, valid until {NotAfter:u}; every leaf moves to it within {Jitter} once every service loaded its CRL, and the previous one stays trusted until the last leaf it signed expires",
            rotated.Serial, rotated.NotAfter, Durations.Describe(options.ReissueJitter));
        PublishCrlsLocked();
        return rotated;
    }

    /// <summary>
    /// Replaces the root in three steps, each once every service loaded the previous one (see <see cref="RootRotator"/>);
    /// the renewal loop moves the leaves in step 2. Returns when all three are done.
    /// </summary>
    public async Task<IReadOnlyList<RotationStep>> RotateRootAsync(string by, CancellationToken cancellationToken)
    {
        // Its own CA object, as another process would have: the rotator's CA work runs beside the renewal loop's.
        var authority = CertificateAuthority.Open(options.PkiDirectory, passphrase, time);
        var rotator = new RootRotator(authority, Fleet ?? new NoFleet(), time, line =>
        {
            timeline.LogInformation("{Step}", line);
            Volatile.Write(ref _operation, $"rotate-root ({by}): {Shorten(line)}");
            RaiseAuthorityChanged();
        })
        {
            ReissueLeaves = false,
            StepTimeout = options.StepTimeout,
        };

        using var rotation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Volatile.Write(ref _rootRotation, rotation);
        try
        {
            return await rotator.RunAsync($"rotate-root ({by})", rotation.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (rotation.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new PkiException("The root rotation was stopped (abandoned) while it waited; both roots stay trusted until the abandon completes.");
        }
        catch (FleetStalledException e)
        {
            timeline.LogError("root rotation stopped: {Message}. Both roots stay trusted; run 'Rotate root' again to continue, or 'Abandon root rotation' (at step 1)", e.Message);
            throw;
        }
        finally
        {
            Interlocked.CompareExchange(ref _rootRotation, null, rotation);
            Volatile.Write(ref _operation, null);
            UpdateActivity();
        }
    }

    /// <summary>
    /// Takes the new root of a rotation stuck at step 1 out of the bundle again. A rotation of this AppHost that is
    /// waiting for a service is stopped first (that is what abandoning it is for); one run by another process is not.
    /// </summary>
    public async Task<LedgerEntry> AbandonRootRotationAsync(string by, CancellationToken cancellationToken)
    {
        var stopping = Volatile.Read(ref _rootRotation);
        if (stopping is not null)
        {
            await stopping.CancelAsync().ConfigureAwait(false);
        }

        using var held = await AcquireSoonAsync($"abandon root rotation ({by})", waitForStopping: stopping is not null, cancellationToken).ConfigureAwait(false);
        var abandoned = await LockedAsync(() =>
        {
            var root = Authority.AbandonRootRotation();
            PublishCrlsLocked();
            return root;
        }, cancellationToken).ConfigureAwait(false);
        timeline.LogWarning("root rotation abandoned: {Subject} (serial {Serial}, which signed nothing) left every ca.crt; trust is as before", abandoned.Subject, abandoned.Serial);
        UpdateActivity();
        return abandoned;
    }

    /// <summary>
    /// Takes the rotation lock; when <paramref name="waitForStopping"/> (this process's own rotation was just cancelled),
    /// waits up to 10 s for it to let go. Whether it still runs is not asked again: it may release the lock and finish
    /// between a refused attempt and that question, and the next attempt then succeeds.
    /// </summary>
    private async Task<OperationLock> AcquireSoonAsync(string operation, bool waitForStopping, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                return OperationLock.Acquire(options.Layout, operation, time);
            }
            catch (PkiException) when (waitForStopping && time.GetUtcNow() < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The fire drill, while traffic runs: renew every leaf, rotate the intermediate, revoke and replace one service's
    /// certificate, each step waited until every service loaded it; then reports how many requests failed meanwhile
    /// (the answer must be 0) and how long each step took, on the timeline.
    /// </summary>
    public async Task<FireDrillReport> RunFireDrillAsync(IReadOnlyList<string> services, Func<TrafficCount> traffic, string by, CancellationToken cancellationToken)
    {
        using var held = OperationLock.Acquire(options.Layout, $"fire drill ({by})", time);
        var target = services.Contains(options.FireDrillService) ? options.FireDrillService : services[0];
        var before = traffic();
        var steps = new List<RotationStep>();
        timeline.LogInformation("fire drill started: renew every leaf, rotate the intermediate, revoke and replace {Target}'s certificate; {Count} requests seen so far", target, before.Succeeded + before.Failed);
        try
        {
            await StepAsync("renew every leaf", async () =>
            {
                var serials = await LockedAsync(() => services.ToDictionary(s => SpiffeId.ForWorkload(Authority.Settings.TrustDomain, Authority.Settings.Environment, s).ToString(), s => IssueLocked(s, "renewed (fire drill)").Entry.Serial), cancellationToken).ConfigureAwait(false);
                await WaitAsync("its renewed leaf", s => !serials.TryGetValue(s.SpiffeId, out var serial) || s.Leaf.Serial == serial, cancellationToken).ConfigureAwait(false);
            }).ConfigureAwait(false);

            await StepAsync("rotate the intermediate", async () =>
            {
                var rotated = await LockedAsync(RotateIntermediateLocked, cancellationToken).ConfigureAwait(false);
                await WaitAsync($"a leaf signed by {rotated.Subject}", s => string.Equals(s.Leaf.IssuerSerial, rotated.Serial, StringComparison.OrdinalIgnoreCase), cancellationToken).ConfigureAwait(false);
            }).ConfigureAwait(false);

            await StepAsync($"revoke and replace {target}", async () =>
            {
                var generations = LatestFleet.Where(m => m.Status is not null).ToDictionary(m => m.Status!.SpiffeId, m => m.Status!.Generation);
                var (_, replacement) = await RevokeAsync(target, cancellationToken).ConfigureAwait(false);
                var spiffeId = replacement.SpiffeId.ToString();
                await WaitAsync("the CRL that revokes it (and its replacement)",
                    s => (!generations.TryGetValue(s.SpiffeId, out var g) || s.Generation > g) && (s.SpiffeId != spiffeId || s.Leaf.Serial == replacement.Entry.Serial),
                    cancellationToken).ConfigureAwait(false);
            }).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PkiException or IOException)
        {
            timeline.LogError("fire drill stopped at step {Step}: {Message}", steps.Count + 1, e.Message);
            throw;
        }

        // Let a request that started during the last step finish and be counted.
        var settled = traffic();
        var deadline = time.GetUtcNow() + TimeSpan.FromSeconds(30);
        while (before != settled && traffic() == settled && time.GetUtcNow() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), time, cancellationToken).ConfigureAwait(false);
        }

        var after = traffic();
        var report = new FireDrillReport(after.Failed - before.Failed, after.Succeeded - before.Succeeded, steps);
        var timings = string.Join(", ", steps.Select(s => $"{s.Name} {Durations.Took(s.Took)}"));
        if (report.Failed + report.Succeeded == 0)
        {
            timeline.LogWarning("fire drill done, but no request was seen during it (is the shopper running?), so it proves nothing about failed requests ({Timings})", timings);
        }
        else if (report.Failed == 0)
        {
            timeline.LogInformation("fire drill done: 0 failed requests out of {Total} ({Timings})", report.Failed + report.Succeeded, timings);
        }
        else
        {
            timeline.LogError("fire drill done: {Failed} FAILED requests out of {Total} ({Timings}); the services' logs name each refusal", report.Failed, report.Failed + report.Succeeded, timings);
        }

        return report;

        async Task StepAsync(string name, Func<Task> step)
        {
            Volatile.Write(ref _operation, $"fire drill ({by}): step {steps.Count + 1} of 3, {name}");
            RaiseAuthorityChanged();
            var started = time.GetTimestamp();
            try
            {
                await step().ConfigureAwait(false);
            }
            finally
            {
                Volatile.Write(ref _operation, null);
            }

            steps.Add(new RotationStep(name, time.GetElapsedTime(started)));
            var seen = traffic();
            timeline.LogInformation("fire drill step {Number} of 3, {Name}: loaded everywhere in {Took}; {Failed} failed requests so far",
                steps.Count, name, Durations.Took(steps[^1].Took), seen.Failed - before.Failed);
        }
    }

    private Task<IReadOnlyList<FleetMember>> WaitAsync(string what, Func<CredentialStatus, bool> loaded, CancellationToken cancellationToken) =>
        FleetWait.UntilAsync(new ObservingFleet(this), what, loaded, options.StepTimeout, time, line => timeline.LogInformation("{Line}", line), cancellationToken);

    /// <summary>Re-signs every CRL and republishes crl.pem to every service.</summary>
    public Task PublishCrlsAsync(CancellationToken cancellationToken) => LockedAsync(PublishCrlsLocked, cancellationToken);

    /// <summary>
    /// Issues the certificates that must be refused: expired (valid for an hour, two days ago), revoked, serverAuth-only,
    /// and one from a rogue CA of its own. Fresh at every start.
    /// </summary>
    public Task PrepareRejectionKitAsync(string service, CancellationToken cancellationToken) => LockedAsync(() =>
    {
        var kit = options.KitDirectory(service);
        var now = time.GetUtcNow();
        Authority.Issue(new LeafRequest($"{service}-expired")
        {
            DnsNames = ["localhost"],
            ValidFrom = now.AddDays(-2),
            Lifetime = TimeSpan.FromHours(1),
            OutputDirectory = Path.Combine(kit, "expired"),
        });
        var revoked = Authority.Issue(new LeafRequest($"{service}-revoked") { DnsNames = ["localhost"], OutputDirectory = Path.Combine(kit, "revoked") });
        Authority.Revoke(revoked.Entry.Serial, X509RevocationReason.KeyCompromise);
        Authority.Issue(new LeafRequest($"{service}-server-only")
        {
            DnsNames = ["localhost"],
            ExtendedKeyUsages = [CertificateFacts.ServerAuthOid],
            OutputDirectory = Path.Combine(kit, "server-only"),
        });

        var roguePki = Path.Combine(options.StateDirectory, "pki-rogue");
        var rogue = File.Exists(Path.Combine(roguePki, "pki.json"))
            ? CertificateAuthority.Open(roguePki, PassphraseSource.Local, time)
            : CertificateAuthority.Initialize(roguePki, new PkiSettings { TrustDomain = Authority.Settings.TrustDomain, Environment = Authority.Settings.Environment },
                PassphraseSource.Local, time).Authority;
        rogue.Issue(new LeafRequest(service) { DnsNames = ["localhost"], OutputDirectory = Path.Combine(kit, "rogue") });
        timeline.LogInformation("rejection kit for {Service} in {Directory}: expired, revoked, server-only, rogue", service, kit);
        PublishCrlsLocked();
    }, cancellationToken);

    private static bool IsDue(LedgerEntry leaf, DateTimeOffset now) => now >= leaf.IssuedAt + ((leaf.NotAfter - leaf.IssuedAt) * 2 / 3);

    private IssuedLeaf LeafOf(LedgerEntry leaf) =>
        new(leaf, SpiffeId.ForWorkload(Authority.Settings.TrustDomain, Authority.Settings.Environment, leaf.Service!), options.Layout.ServiceDirectory(leaf.Service!), false);

    private IssuedLeaf IssueLocked(string service, string verb)
    {
        var issued = Authority.Issue(new LeafRequest(service)
        {
            DnsNames = ["localhost"],
            IPAddresses = [IPAddress.Loopback],
            Lifetime = options.LeafLifetime,
        });
        timeline.LogInformation("certificate {Verb} for {Service}: {SpiffeId}, serial {Serial}, valid until {NotAfter:u}",
            verb, service, issued.SpiffeId, issued.Entry.Serial, issued.Entry.NotAfter);
        Raise(new LeafChange(service, verb, issued));
        return issued;
    }

    /// <summary>Tells the dashboard; a failing subscriber never undoes or interrupts the operation (the files are written).</summary>
    private void Raise(LeafChange change) => Safely(() => LeafChanged?.Invoke(change), $"show {change.Service}'s new certificate");

    private void RaiseAuthorityChanged() => Safely(() => AuthorityChanged?.Invoke(), "show the PKI's new state");

    private void Safely(Action action, string what)
    {
        try
        {
            action();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            timeline.LogWarning("could not {What} on the dashboard: {Message}", what, e.Message);
        }
    }

    private static string Shorten(string line) => line.Length <= 120 ? line : line[..117] + "...";

    private void PublishCrlsLocked() => PublishCrlsLocked(Authority);

    private void PublishCrlsLocked(CertificateAuthority authority)
    {
        var (published, refresh) = authority.PublishCrls(includeRoots: true);
        _crlsPublishedAt = time.GetUtcNow();
        var intermediates = authority.Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active).Select(e => e.Subject).ToHashSet(StringComparer.Ordinal);
        LastIntermediateCrl = published.LastOrDefault(crl => intermediates.Contains(crl.Issuer.Name)) ?? (published.Count > 0 ? published[^1] : null);
        foreach (var crl in published)
        {
            timeline.LogInformation("CRL published for {Issuer}: number {Number}, {Count} revoked, next update {NextUpdate:u}",
                crl.Issuer.Name, crl.Number, crl.Entries.Count, crl.NextUpdate);
        }

        foreach (var failure in refresh.Failed)
        {
            timeline.LogWarning("could not republish to a service directory: {Failure}", failure);
        }

        RaiseAuthorityChanged();
    }

    private async Task<T> LockedAsync<T>(Func<T> work, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return work();
        }
        finally
        {
            _gate.Release();
        }
    }

    private Task<bool> LockedAsync(Action work, CancellationToken cancellationToken) => LockedAsync(() =>
    {
        work();
        return true;
    }, cancellationToken);

    public void Dispose() => _gate.Dispose();

    /// <summary>One service of a fleet.</summary>
    private sealed class OnlyFleet(IFleet fleet, string service) : IFleet
    {
        public async Task<IReadOnlyList<FleetMember>> ObserveAsync(CancellationToken cancellationToken) =>
            [.. (await fleet.ObserveAsync(cancellationToken).ConfigureAwait(false)).Where(m => m.Service == service)];
    }

    /// <summary>No services to ask: nothing to wait for.</summary>
    private sealed class NoFleet : IFleet
    {
        public Task<IReadOnlyList<FleetMember>> ObserveAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<FleetMember>>([]);
    }

    /// <summary>Asks the fleet and keeps the answer as the lifecycle's latest (the renewal loop decides on it too).</summary>
    private sealed class ObservingFleet(CertificateLifecycle lifecycle) : IFleet
    {
        public async Task<IReadOnlyList<FleetMember>> ObserveAsync(CancellationToken cancellationToken)
        {
            await lifecycle.ObserveFleetAsync(cancellationToken).ConfigureAwait(false);
            return lifecycle.LatestFleet;
        }
    }
}

/// <summary>What the fire drill found.</summary>
/// <param name="Failed">Requests that failed during the drill (must be 0).</param>
/// <param name="Succeeded">Requests that succeeded during the drill.</param>
/// <param name="Steps">Each step and how long it took until loaded everywhere.</param>
internal sealed record FireDrillReport(long Failed, long Succeeded, IReadOnlyList<RotationStep> Steps);
