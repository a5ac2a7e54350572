using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification.Identity;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.Hosting;

/// <summary>What happened to a leaf, for the timeline and the resource's properties.</summary>
/// <param name="Service">The resource the leaf belongs to.</param>
/// <param name="Verb">issued, renewed, re-issued, revoked and re-issued, …</param>
/// <param name="Leaf">The new leaf.</param>
internal sealed record LeafChange(string Service, string Verb, IssuedLeaf Leaf);

/// <summary>
/// The AppHost's side of the certificate lifecycle: create the PKI on the first run (reuse it later), give every
/// identity a current leaf, renew each at 2/3 of its lifetime, republish the CRLs before they go stale, and carry out
/// the dashboard's commands. One operation at a time (the renewal loop and commands share the CA). Every clock read
/// goes through the <see cref="TimeProvider"/>; every step is a line of <paramref name="timeline"/>.
/// </summary>
internal sealed class CertificateLifecycle(PkiOptions options, PassphraseSource passphrase, TimeProvider time, ILogger timeline) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private DateTimeOffset _crlsPublishedAt;
    private CertificateAuthority? _authority;

    /// <summary>Raised after a leaf was written (under the lifecycle's lock: keep handlers short).</summary>
    public event Action<LeafChange>? LeafChanged;

    /// <summary>Raised after the CAs or CRLs changed.</summary>
    public event Action? AuthorityChanged;

    public CertificateAuthority Authority => _authority ?? throw new InvalidOperationException("The PKI has not been bootstrapped yet.");

    public bool IsReady => _authority is not null;

    /// <summary>The intermediate CRL last published (number and next update for the dashboard).</summary>
    public RevocationList? LastIntermediateCrl { get; private set; }

    /// <summary>The lifecycle's clock (the injected <see cref="TimeProvider"/>).</summary>
    public DateTimeOffset Now => time.GetUtcNow();

    /// <summary>When the intermediate CRL last published went stale, if it has.</summary>
    public DateTimeOffset? CrlStaleSince => LastIntermediateCrl?.NextUpdate is { } next && next <= Now ? next : null;

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

        PublishCrlsLocked(authority);
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

        Raise(new LeafChange(service, "current", new IssuedLeaf(leaf, SpiffeId.ForWorkload(Authority.Settings.TrustDomain, Authority.Settings.Environment, service), options.Layout.ServiceDirectory(service), false)));
        return leaf;
    }, cancellationToken);

    /// <summary>Renews due leaves and republishes CRLs until <paramref name="cancellationToken"/> fires.</summary>
    public async Task RunAsync(Func<IReadOnlyList<string>> services, CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromTicks(Math.Clamp(options.LeafLifetime.Ticks / 30, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromSeconds(30).Ticks));
        using var timer = new PeriodicTimer(interval, time);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                await RenewDueAsync(services(), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Whatever went wrong (a busy ledger, a full disk), the loop must live on: leaves would expire silently.
                timeline.LogWarning("renewal failed, will retry at the next tick: {Message}", e.Message);
            }
        }
    }

    /// <summary>One pass of the renewal loop.</summary>
    public Task RenewDueAsync(IReadOnlyList<string> services, CancellationToken cancellationToken) => LockedAsync(() =>
    {
        var now = time.GetUtcNow();
        foreach (var service in services)
        {
            // A service with no leaf yet gets its first one just before it starts (EnsureLeafAsync), not from here.
            if (Authority.Ledger.ActiveLeaf(service) is { } leaf && IsDue(leaf, now))
            {
                IssueLocked(service, "renewed");
            }
        }

        if (now - _crlsPublishedAt >= Authority.Settings.IntermediateCrlValidity / 2)
        {
            PublishCrlsLocked();
        }
    }, cancellationToken);

    /// <summary>A new key and certificate for <paramref name="service"/> now.</summary>
    public Task<IssuedLeaf> RenewAsync(string service, CancellationToken cancellationToken) =>
        LockedAsync(() => IssueLocked(service, "renewed (on request)"), cancellationToken);

    /// <summary>Revokes the service's active leaf (key compromise), republishes the CRLs, and issues it a new key and certificate.</summary>
    public Task<(LedgerEntry Revoked, IssuedLeaf Replacement)> RevokeAsync(string service, CancellationToken cancellationToken) => LockedAsync(() =>
    {
        var revoked = Authority.RevokeService(service, X509RevocationReason.KeyCompromise);
        timeline.LogWarning("revoked {Service}: serial {Serial} (keyCompromise); every peer refuses it once it loads the new CRL", service, revoked.Serial);
        var replacement = IssueLocked(service, "re-issued after revocation");
        PublishCrlsLocked();
        return (revoked, replacement);
    }, cancellationToken);

    /// <summary>A new intermediate under the same root; leaves move to it at their next renewal.</summary>
    public Task<LedgerEntry> RotateIntermediateAsync(CancellationToken cancellationToken) => LockedAsync(() =>
    {
        var (rotated, _) = Authority.RotateIntermediate();
        timeline.LogInformation("intermediate CA rotated: serial {Serial}, valid until {NotAfter:u}; the previous one stays trusted until its leaves are renewed",
            rotated.Serial, rotated.NotAfter);
        PublishCrlsLocked();
        return rotated;
    }, cancellationToken);

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
    private void Raise(LeafChange change)
    {
        try
        {
            LeafChanged?.Invoke(change);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            timeline.LogWarning("could not show {Service}'s new certificate on the dashboard: {Message}", change.Service, e.Message);
        }
    }

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

        try
        {
            AuthorityChanged?.Invoke();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            timeline.LogWarning("could not show the PKI's new state on the dashboard: {Message}", e.Message);
        }
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
}
