using System.Net;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Ledger;

namespace MtlsAspire.Hosting;

/// <summary>
/// The AppHost's side of the certificate lifecycle: bootstrap the PKI on first run (reuse it later), give every
/// identity resource a current leaf, renew each at 2/3 of its lifetime while the app runs, and republish the CRLs
/// before they go stale. Every clock read goes through the <see cref="TimeProvider"/>.
/// </summary>
internal sealed class CertificateLifecycle(MtlsApplicationOptions options, TimeProvider time, Action<string> say)
{
    private DateTimeOffset _crlsPublishedAt;

    public CertificateAuthority Authority { get; private set; } = null!;

    public string PkiDirectory => Path.Combine(options.StateDirectory, "pki");

    /// <summary>Creates or opens the PKI, renews what a previous run left expired or near its end, republishes the CRLs.</summary>
    public void Bootstrap(IEnumerable<ProjectResource> identities)
    {
        if (File.Exists(Path.Combine(PkiDirectory, "pki.json")))
        {
            Authority = CertificateAuthority.Open(PkiDirectory, PassphraseSource.FromFileOrEnvironment(null), time);
            say($"PKI reused from {PkiDirectory}");
        }
        else
        {
            var settings = new PkiSettings { TrustDomain = options.TrustDomain, Environment = options.Environment, LeafLifetime = options.LeafLifetime };
            (Authority, var created) = CertificateAuthority.Initialize(PkiDirectory, settings, PassphraseSource.FromFileOrEnvironment(null), time);
            say($"PKI created in {PkiDirectory}: root {created.Root.Subject}, intermediate {created.Intermediate.Subject}");
        }

        var now = time.GetUtcNow();
        var intermediate = Authority.Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active) is [.., var active] ? active : null;
        if (intermediate is null || now > intermediate.NotAfter - TimeSpan.FromDays(7))
        {
            Authority.RotateIntermediate();
            say("intermediate CA rotated (the previous one was missing, revoked or about to expire)");
        }

        foreach (var resource in identities)
        {
            var leaf = Authority.Ledger.ActiveLeaf(resource.Name);
            var directory = Authority.Layout.ServiceDirectory(resource.Name);
            if (leaf is null || !File.Exists(Path.Combine(directory, "tls.crt")) || IsDue(leaf, now) || leaf.Lifetime != options.LeafLifetime)
            {
                Issue(resource, leaf is null ? "issued" : leaf.IsExpired(now) ? "re-issued (the previous run's had expired)" : "renewed");
            }
        }

        PublishCrls();
    }

    /// <summary>Renews due leaves and republishes CRLs until <paramref name="cancellationToken"/> fires.</summary>
    public async Task RunAsync(IReadOnlyList<ProjectResource> identities, CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromTicks(Math.Clamp(options.LeafLifetime.Ticks / 30, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromSeconds(30).Ticks));
        using var timer = new PeriodicTimer(interval, time);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            try
            {
                RenewDue(identities);
            }
            catch (Exception e) when (e is PkiException or IOException)
            {
                say($"renewal failed, will retry: {e.Message}");
            }
        }
    }

    /// <summary>One pass of the renewal loop.</summary>
    public void RenewDue(IReadOnlyList<ProjectResource> identities)
    {
        var now = time.GetUtcNow();
        foreach (var resource in identities)
        {
            if (Authority.Ledger.ActiveLeaf(resource.Name) is not { } leaf || IsDue(leaf, now))
            {
                Issue(resource, "renewed");
            }
        }

        if (now - _crlsPublishedAt >= Authority.Settings.IntermediateCrlValidity / 2)
        {
            PublishCrls();
        }
    }

    /// <summary>Where a resource's rejection kit lives.</summary>
    public string KitDirectory(ProjectResource resource) => Path.Combine(PkiDirectory, "kits", resource.Name);

    /// <summary>
    /// Issues the certificates that must be refused: expired (valid for an hour, two days ago), revoked, serverAuth-only,
    /// and one from a rogue CA of its own. Fresh at every start.
    /// </summary>
    public void PrepareRejectionKit(ProjectResource resource)
    {
        var kit = KitDirectory(resource);
        var now = time.GetUtcNow();
        Authority.Issue(new LeafRequest($"{resource.Name}-expired")
        {
            DnsNames = ["localhost"],
            ValidFrom = now.AddDays(-2),
            Lifetime = TimeSpan.FromHours(1),
            OutputDirectory = Path.Combine(kit, "expired"),
        });
        var revoked = Authority.Issue(new LeafRequest($"{resource.Name}-revoked") { DnsNames = ["localhost"], OutputDirectory = Path.Combine(kit, "revoked") });
        Authority.Revoke(revoked.Entry.Serial, System.Security.Cryptography.X509Certificates.X509RevocationReason.KeyCompromise);
        Authority.Issue(new LeafRequest($"{resource.Name}-server-only")
        {
            DnsNames = ["localhost"],
            ExtendedKeyUsages = [MtlsAspire.CertBootstrap.Certificates.CertificateFacts.ServerAuthOid],
            OutputDirectory = Path.Combine(kit, "server-only"),
        });

        var roguePki = Path.Combine(options.StateDirectory, "pki-rogue");
        var rogue = File.Exists(Path.Combine(roguePki, "pki.json"))
            ? CertificateAuthority.Open(roguePki, PassphraseSource.FromFileOrEnvironment(null), time)
            : CertificateAuthority.Initialize(roguePki, new PkiSettings { TrustDomain = options.TrustDomain, Environment = options.Environment },
                PassphraseSource.FromFileOrEnvironment(null), time).Authority;
        rogue.Issue(new LeafRequest(resource.Name) { DnsNames = ["localhost"], OutputDirectory = Path.Combine(kit, "rogue") });
        say($"rejection kit for {resource.Name} in {kit}: expired, revoked, server-only, rogue");
    }

    private static bool IsDue(LedgerEntry leaf, DateTimeOffset now) => now >= leaf.IssuedAt + ((leaf.NotAfter - leaf.IssuedAt) * 2 / 3);

    private void Issue(ProjectResource resource, string verb)
    {
        var issued = Authority.Issue(new LeafRequest(resource.Name)
        {
            DnsNames = ["localhost"],
            IPAddresses = [IPAddress.Loopback],
            Lifetime = options.LeafLifetime,
        });
        say($"certificate {verb} for {resource.Name}: {issued.SpiffeId}, serial {issued.Entry.Serial}, valid until {issued.Entry.NotAfter:u}");
    }

    private void PublishCrls()
    {
        var (_, refresh) = Authority.PublishCrls(includeRoots: true);
        _crlsPublishedAt = time.GetUtcNow();
        foreach (var failure in refresh.Failed)
        {
            say($"warning: {failure}");
        }
    }
}
