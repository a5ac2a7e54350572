using MtlsAspire.CertBootstrap.Ledger;

namespace MtlsAspire.CertBootstrap.Authority;

/// <summary>Where a root rotation stands, read from the ledger (so every process sees the same).</summary>
public enum RootRotationPhase
{
    /// <summary>One root, trusted and signing.</summary>
    None,

    /// <summary>Step 1 done: the new root is in every ca.crt; the old one still signs. Next: wait until every service loaded the bundle.</summary>
    NewRootTrusted,

    /// <summary>Step 2 done: the new root signs the intermediate and every new leaf; the old root stays trusted. Next: wait until every service serves a new leaf.</summary>
    NewRootSigning,
}

/// <summary>A root rotation's state.</summary>
/// <param name="Phase">The step reached.</param>
/// <param name="OldRoot">The root being replaced.</param>
/// <param name="NewRoot">The root replacing it.</param>
public sealed record RootRotationState(RootRotationPhase Phase, LedgerEntry? OldRoot, LedgerEntry? NewRoot)
{
    /// <summary>"step 1 of 3 (new root trusted)" and so on, for people.</summary>
    public string Describe() => Phase switch
    {
        RootRotationPhase.NewRootTrusted => $"step 1 of 3 done: new root {NewRoot!.Subject} is in every ca.crt, {OldRoot?.Subject} still signs",
        RootRotationPhase.NewRootSigning => $"step 2 of 3 done: new root {NewRoot!.Subject} signs; the old root {OldRoot!.Subject} is still trusted",
        _ => "no root rotation under way",
    };
}

public sealed partial class CertificateAuthority
{
    /// <summary>Where a root rotation stands (from the ledger).</summary>
    public RootRotationState RootRotation()
    {
        var now = _time.GetUtcNow();
        var active = Ledger.Find(CertificateKind.Root, CertificateStatus.Active) is [.., var a] ? a : null;
        if (Ledger.Find(CertificateKind.Root, CertificateStatus.Pending) is [.., var pending])
        {
            return new RootRotationState(RootRotationPhase.NewRootTrusted, active, pending);
        }

        if (Ledger.Find(CertificateKind.Root, CertificateStatus.Retired).Where(e => !e.IsExpired(now)).ToList() is [.., var retired])
        {
            return new RootRotationState(RootRotationPhase.NewRootSigning, retired, active);
        }

        return new RootRotationState(RootRotationPhase.None, active, null);
    }

    /// <summary>
    /// Root rotation step 1: creates a new root (recorded as pending: trusted, not signing), adds it to the trust bundle
    /// beside the current one and republishes ca.crt and the CRLs to every service directory. Nothing signed by it yet.
    /// </summary>
    public LedgerEntry AddRoot()
    {
        var state = RootRotation();
        if (state.Phase != RootRotationPhase.None)
        {
            throw new PkiException($"A root rotation is already under way ({state.Describe()}): continue it with rotate-root, or abandon it with rotate-root --abandon.");
        }

        // The current root's key must be usable before anything changes: its CRL is re-signed below.
        var current = LoadActiveRoot();
        var (root, _) = CreateRoot(CertificateStatus.Pending, "root-added",
            subject => $"Root rotation step 1 of 3: new root CA {subject} added to the trust bundle beside {current.Entry.Subject}; it signs nothing yet");
        PublishCrl(root, Settings.RootCrlValidity);
        PublishCrl(current, Settings.RootCrlValidity);
        RefreshServiceDirectories();
        return root.Entry;
    }

    /// <summary>
    /// Root rotation step 2 (once every service trusts the new root): the new root becomes the active one, signs a new
    /// intermediate, and the old root is retired (still in the bundle, so leaves under it stay valid). Republishes
    /// everything; the caller re-issues the leaves under the new intermediate.
    /// </summary>
    public LedgerEntry PromoteRoot()
    {
        var state = RootRotation();
        if (state.Phase != RootRotationPhase.NewRootTrusted)
        {
            throw new PkiException($"Root rotation step 2 needs a new root in the bundle first ({state.Describe()}).");
        }

        var root = LoadRoot(state.NewRoot!); // decrypt before changing anything: a wrong passphrase leaves the state as it was
        var now = _time.GetUtcNow();
        if (state.OldRoot is { } old)
        {
            Ledger.TryTransition(old.Serial, CertificateStatus.Active, CertificateStatus.Retired,
                new LedgerEvent(now, "root-retired", old.Serial, null, $"Root CA {old.Subject} retired: still trusted, signs nothing new"));
        }

        if (!Ledger.TryTransition(root.Entry.Serial, CertificateStatus.Pending, CertificateStatus.Active,
                new LedgerEvent(now, "root-promoted", root.Entry.Serial, null, $"Root rotation step 2 of 3: root CA {root.Entry.Subject} now signs the intermediate")))
        {
            throw new PkiException($"Root {root.Entry.Subject} is no longer pending: another process moved the rotation on.");
        }

        var intermediate = IssueIntermediate(root with { Entry = root.Entry with { Status = CertificateStatus.Active } });
        PublishCrl(root, Settings.RootCrlValidity);
        RefreshServiceDirectories();
        return intermediate.Entry;
    }

    /// <summary>
    /// Root rotation step 3 (once every service serves a leaf under the new root): the old root leaves the trust bundle;
    /// its intermediates' CRLs are no longer published. Republishes ca.crt and crl.pem everywhere.
    /// </summary>
    public LedgerEntry DropOldRoot()
    {
        var state = RootRotation();
        if (state.Phase != RootRotationPhase.NewRootSigning)
        {
            throw new PkiException($"Root rotation step 3 needs the new root signing first ({state.Describe()}).");
        }

        var old = state.OldRoot!;
        if (Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active) is [.., var signing] && signing.IssuerSerial == old.Serial)
        {
            throw new PkiException($"Refusing to drop {old.Subject}: the active intermediate {signing.Subject} is still under it (rotate-root resumes by issuing one under the new root).");
        }

        Ledger.TryTransition(old.Serial, CertificateStatus.Retired, CertificateStatus.Distrusted,
            new LedgerEvent(_time.GetUtcNow(), "root-dropped", old.Serial, null,
                $"Root rotation step 3 of 3: root CA {old.Subject} removed from the trust bundle; {state.NewRoot!.Subject} is the only root"));
        WriteTrustBundle();
        Ledger.BumpCaVersion(); // after the bundle file changed: a cache built in between must not keep the old text
        RefreshServiceDirectories();
        return old;
    }

    /// <summary>
    /// Abandons a root rotation stuck at step 1 (a service never loaded the new bundle): the new root, which signed
    /// nothing, leaves the bundle again; trust is as before. After step 2 there is nothing to undo safely by removing a
    /// root (both are trusted, which breaks nothing): this throws and says so.
    /// </summary>
    public LedgerEntry AbandonRootRotation()
    {
        var state = RootRotation();
        if (state.Phase != RootRotationPhase.NewRootTrusted)
        {
            throw new PkiException(state.Phase == RootRotationPhase.None
                ? "No root rotation is under way."
                : $"The new root already signs ({state.Describe()}): both roots stay trusted, which is safe; finish with rotate-root once every service serves a new leaf.");
        }

        var abandoned = state.NewRoot!;
        Ledger.TryTransition(abandoned.Serial, CertificateStatus.Pending, CertificateStatus.Distrusted,
            new LedgerEvent(_time.GetUtcNow(), "root-abandoned", abandoned.Serial, null,
                $"Root rotation abandoned at step 1: root CA {abandoned.Subject} (which signed nothing) removed from the trust bundle; trust is as before"));
        WriteTrustBundle();
        Ledger.BumpCaVersion();
        RefreshServiceDirectories();
        return abandoned;
    }

    /// <summary>
    /// Rewrites the trust bundle, re-signs every CRL and republishes ca.crt and crl.pem to every service directory: what
    /// a rotation resumed after a crash does first, so that nothing it waits for depends on files never delivered.
    /// </summary>
    public RefreshResult Republish()
    {
        WriteTrustBundle();
        Ledger.BumpCaVersion();
        return PublishCrls().Refresh;
    }

    /// <summary>
    /// The active leaves of services: those published to the PKI's own services/{name} directory. Leaves written
    /// elsewhere with --out (such as the intruder's deliberately expired or serverAuth-only certificates) are left as
    /// they are: renewing them would make them valid.
    /// </summary>
    public IReadOnlyList<LedgerEntry> ServiceLeaves() =>
        [.. Ledger.Find(CertificateKind.Leaf, CertificateStatus.Active)
            .Where(leaf => leaf.Service is { } service && string.Equals(leaf.OutputDirectory, Path.GetFullPath(Layout.ServiceDirectory(service)), StringComparison.Ordinal))];
}
