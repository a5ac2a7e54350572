using MtlsAspire.CertBootstrap.Fleet;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification;

namespace MtlsAspire.CertBootstrap.Authority;

/// <summary>One step of a root rotation and how long it took (including the wait for every service).</summary>
/// <param name="Name">What the step did.</param>
/// <param name="Took">How long, from start to loaded everywhere.</param>
public sealed record RotationStep(string Name, TimeSpan Took);

/// <summary>
/// Drives a root rotation to its end, in the three steps a mesh needs restarts for, each starting only once the previous
/// one is loaded by every running service (as each reports on <c>/mtls/status</c>): (1) add the new root to every
/// ca.crt; (2) the new root signs a new intermediate and every leaf is re-issued under it; (3) drop the old root.
/// Resumes a rotation left half-way (the state is in the ledger). A step that waits longer than
/// <see cref="StepTimeout"/> throws <see cref="FleetStalledException"/> naming the services; the rotation stays where
/// it is, which is safe (both roots trusted), and can be continued or, at step 1, abandoned.
/// </summary>
public sealed class RootRotator(CertificateAuthority authority, IFleet fleet, TimeProvider time, Action<string> progress)
{
    /// <summary>How long one step may wait for the services.</summary>
    public TimeSpan StepTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Whether this rotator re-issues the leaves in step 2 itself (the CLI), or leaves it to a renewal loop that moves
    /// leaves to the active intermediate progressively (the AppHost).
    /// </summary>
    public bool ReissueLeaves { get; init; } = true;

    /// <summary>Runs the remaining steps; holds the PKI's rotation lock meanwhile.</summary>
    public async Task<IReadOnlyList<RotationStep>> RunAsync(string holder, CancellationToken cancellationToken)
    {
        using var held = OperationLock.Acquire(authority.Layout, holder, time);
        var steps = new List<RotationStep>();
        var state = authority.RootRotation();
        if (state.Phase == RootRotationPhase.None)
        {
            var started = time.GetTimestamp();
            var root = authority.AddRoot();
            progress($"root rotation step 1 of 3: new root {root.Subject} (serial {root.Serial}) added to every ca.crt beside {state.OldRoot?.Subject}; waiting for every service to load it");
            await WaitAsync($"the trust bundle with the new root {root.Subject}", s => s.Trusts(root.Serial), cancellationToken).ConfigureAwait(false);
            steps.Add(new RotationStep("1 of 3: new root added to every ca.crt", time.GetElapsedTime(started)));
            progress($"root rotation step 1 of 3 loaded everywhere in {Durations.Took(steps[^1].Took)}");
            state = authority.RootRotation();
        }
        else if (state.Phase == RootRotationPhase.NewRootTrusted)
        {
            progress($"resuming a root rotation: {state.Describe()}");
            authority.Republish(); // whatever a process that stopped half-way did not deliver
            await WaitAsync($"the trust bundle with the new root {state.NewRoot!.Subject}", s => s.Trusts(state.NewRoot!.Serial), cancellationToken).ConfigureAwait(false);
        }

        if (state.Phase == RootRotationPhase.NewRootTrusted)
        {
            var started = time.GetTimestamp();
            var intermediate = authority.PromoteRoot();
            progress($"root rotation step 2 of 3: root {state.NewRoot!.Subject} now signs the intermediate {intermediate.Subject} (serial {intermediate.Serial}); leaves move to it");
            await MoveLeavesAsync(intermediate, cancellationToken).ConfigureAwait(false);
            steps.Add(new RotationStep("2 of 3: new root signs, every leaf re-issued", time.GetElapsedTime(started)));
            progress($"root rotation step 2 of 3 loaded everywhere in {Durations.Took(steps[^1].Took)}: every service serves a leaf under the new root");
            state = authority.RootRotation();
        }
        else if (state.Phase == RootRotationPhase.NewRootSigning)
        {
            progress($"resuming a root rotation: {state.Describe()}");
            var intermediate = ActiveIntermediate();
            if (intermediate.IssuerSerial != state.NewRoot!.Serial)
            {
                // A process stopped between promoting the new root and issuing its intermediate: issue it now, or step 3
                // would drop the root that still signs everything.
                (intermediate, _) = authority.RotateIntermediate();
                progress($"the new root {state.NewRoot.Subject} had no intermediate yet: issued {intermediate.Subject} (serial {intermediate.Serial})");
            }

            authority.Republish();
            await MoveLeavesAsync(intermediate, cancellationToken).ConfigureAwait(false);
        }

        if (state.Phase == RootRotationPhase.NewRootSigning)
        {
            var started = time.GetTimestamp();
            var old = authority.DropOldRoot();
            progress($"root rotation step 3 of 3: old root {old.Subject} removed from every ca.crt; waiting for every service to load the bundle without it");
            await WaitAsync($"the trust bundle without the old root {old.Subject}", s => !s.Trusts(old.Serial), cancellationToken).ConfigureAwait(false);
            steps.Add(new RotationStep("3 of 3: old root dropped", time.GetElapsedTime(started)));
            progress($"root rotation done: {state.NewRoot!.Subject} is the only root; step 3 loaded everywhere in {Durations.Took(steps[^1].Took)}");
        }

        return steps;
    }

    private LedgerEntry ActiveIntermediate() =>
        authority.Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active) is [.., var active]
            ? active
            : throw new PkiException("The PKI has no active intermediate CA: run rotate-intermediate.");

    /// <summary>
    /// Waits until every service trusts the new intermediate's CRL (so no peer refuses a leaf for want of it), re-issues
    /// the leaves still under an older intermediate (or lets the renewal loop do it), and waits until every service
    /// serves a leaf under the new intermediate.
    /// </summary>
    private async Task MoveLeavesAsync(LedgerEntry intermediate, CancellationToken cancellationToken)
    {
        await WaitAsync($"the CRL of the new intermediate {intermediate.Subject}",
            s => s.Crls.Any(c => string.Equals(c.Issuer, intermediate.Subject, StringComparison.Ordinal)), cancellationToken).ConfigureAwait(false);
        if (ReissueLeaves)
        {
            foreach (var leaf in authority.ServiceLeaves().Where(l => l.IssuerSerial != intermediate.Serial))
            {
                var issued = authority.Renew(leaf.Service!);
                progress($"re-issued {issued.SpiffeId} under {intermediate.Subject}: serial {issued.Entry.Serial}");
            }
        }

        await WaitAsync($"a leaf signed by {intermediate.Subject}",
            s => string.Equals(s.Leaf.IssuerSerial, intermediate.Serial, StringComparison.OrdinalIgnoreCase)
                 || string.Equals(s.Leaf.Issuer, intermediate.Subject, StringComparison.Ordinal), cancellationToken).ConfigureAwait(false);
    }

    private Task<IReadOnlyList<FleetMember>> WaitAsync(string what, Func<Verification.Status.CredentialStatus, bool> loaded, CancellationToken cancellationToken) =>
        FleetWait.UntilAsync(fleet, what, loaded, StepTimeout, time, progress, cancellationToken);
}
