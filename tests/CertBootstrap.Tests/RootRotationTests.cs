using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Fleet;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Status;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Tests;

public class RootRotationTests
{
    private static readonly string[] s_services = ["order", "payment", "inventory"];

    [Fact]
    public async Task A_root_rotation_replaces_the_root_in_three_steps_and_every_leaf_chains_to_the_new_root_only()
    {
        using var pki = new TestPki();
        foreach (var service in s_services)
        {
            pki.Authority.Issue(new LeafRequest(service));
        }

        var fleet = new FilesFleet(pki.Authority, s_services);
        var lines = new List<string>();
        var steps = await new RootRotator(pki.Authority, fleet, TimeProvider.System, lines.Add).RunAsync("test", CancellationToken.None);

        Assert.Equal(3, steps.Count);
        var state = pki.Authority.RootRotation();
        Assert.Equal(RootRotationPhase.None, state.Phase);
        Assert.NotEqual(pki.Init.Root.Serial, state.OldRoot!.Serial); // "old" of the idle state is the active root: the new one
        Assert.Equal(CertificateStatus.Distrusted, pki.Authority.Ledger.Find(pki.Init.Root.Serial)!.Status);
        Assert.Contains(lines, l => l.Contains("step 1 of 3", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("step 3 of 3", StringComparison.Ordinal));
        foreach (var service in s_services)
        {
            using var credentials = ServiceCredentials.Load(new CredentialDirectory(pki.Authority.Layout.ServiceDirectory(service)));
            Assert.Equal([state.OldRoot.Serial], credentials.TrustedRoots.Select(r => r.SerialNumber));
            var chain = credentials.VerifyChain(pki.Time.GetUtcNow(), CertificateFacts.ClientAuthOid, CertificateFacts.ServerAuthOid);
            Assert.True(chain.IsValid, string.Join("; ", chain.Problems));
            Assert.Equal(state.OldRoot.Serial, chain.Path[^1].SerialNumber);
        }

        // The old root's CRL and its intermediate's are no longer published; the new root's are.
        var crlIssuers = CrlIssuers(File.ReadAllText(Path.Combine(pki.Authority.Layout.ServiceDirectory("order"), "crl.pem")));
        Assert.DoesNotContain(pki.Init.Root.Subject, crlIssuers);
        Assert.DoesNotContain(pki.Init.Intermediate.Subject, crlIssuers);
        Assert.Contains(state.OldRoot.Subject, crlIssuers);
    }

    [Fact]
    public async Task Each_step_waits_until_every_service_loaded_the_previous_one()
    {
        using var pki = new TestPki();
        foreach (var service in s_services)
        {
            pki.Authority.Issue(new LeafRequest(service));
        }

        // payment has not loaded anything since the start: step 2 must not begin.
        var fleet = new FilesFleet(pki.Authority, s_services) { Frozen = { "payment" } };
        await fleet.ObserveAsync(CancellationToken.None); // payment's report freezes here, before the rotation
        var rotator = new RootRotator(pki.Authority, fleet, TimeProvider.System, _ => { }) { StepTimeout = TimeSpan.FromSeconds(1) };

        var stalled = await Assert.ThrowsAsync<FleetStalledException>(() => rotator.RunAsync("test", CancellationToken.None));

        Assert.Equal(["payment"], stalled.Laggards);
        Assert.Contains("payment", stalled.Message, StringComparison.Ordinal);
        Assert.Contains("new root", stalled.Message, StringComparison.Ordinal);
        var state = pki.Authority.RootRotation();
        Assert.Equal(RootRotationPhase.NewRootTrusted, state.Phase);
        Assert.Equal(pki.Init.Intermediate.Serial, pki.Authority.Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active).Single().Serial);

        // Abandoning takes the new root (which signed nothing) out again: trust is what it was, for the stuck service too.
        var abandoned = pki.Authority.AbandonRootRotation();
        Assert.Equal(state.NewRoot!.Serial, abandoned.Serial);
        Assert.Equal(RootRotationPhase.None, pki.Authority.RootRotation().Phase);
        using var order = ServiceCredentials.Load(new CredentialDirectory(pki.Authority.Layout.ServiceDirectory("order")));
        Assert.Equal([pki.Init.Root.Serial], order.TrustedRoots.Select(r => r.SerialNumber));
        Assert.True(order.VerifyChain(pki.Time.GetUtcNow(), CertificateFacts.ClientAuthOid).IsValid);
    }

    [Fact]
    public async Task A_rotation_stopped_half_way_resumes_where_it_stopped()
    {
        using var pki = new TestPki();
        pki.Authority.Issue(new LeafRequest("order"));
        pki.Authority.AddRoot();
        pki.Authority.PromoteRoot(); // a crash right after step 2's CA work: no leaf re-issued yet

        var lines = new List<string>();
        var steps = await new RootRotator(pki.Reopen(), new FilesFleet(pki.Authority, ["order"]), TimeProvider.System, lines.Add).RunAsync("test", CancellationToken.None);

        Assert.Single(steps); // only step 3 was left
        Assert.Contains(lines, l => l.Contains("resuming", StringComparison.Ordinal));
        Assert.Equal(RootRotationPhase.None, pki.Authority.RootRotation().Phase);
        var active = pki.Authority.Ledger.ActiveLeaf("order")!;
        Assert.Equal(pki.Authority.Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active).Single().Serial, active.IssuerSerial);
    }

    [Fact]
    public async Task A_second_rotation_while_one_runs_is_refused_and_names_the_one_running()
    {
        using var pki = new TestPki();
        pki.Authority.Issue(new LeafRequest("order"));
        using var held = OperationLock.Acquire(pki.Authority.Layout, "rotate-intermediate (dashboard)", pki.Time);

        var refused = await Assert.ThrowsAsync<PkiException>(() =>
            new RootRotator(pki.Authority, new FilesFleet(pki.Authority, ["order"]), TimeProvider.System, _ => { }).RunAsync("test", CancellationToken.None));

        Assert.Contains("rotate-intermediate (dashboard)", refused.Message, StringComparison.Ordinal);
        Assert.Equal(RootRotationPhase.None, pki.Authority.RootRotation().Phase);
    }

    [Fact]
    public void Abandoning_after_the_new_root_signs_is_refused_because_both_roots_stay_trusted()
    {
        using var pki = new TestPki();
        pki.Authority.Issue(new LeafRequest("order"));
        pki.Authority.AddRoot();
        pki.Authority.PromoteRoot();

        var refused = Assert.Throws<PkiException>(() => pki.Authority.AbandonRootRotation());

        Assert.Contains("both roots stay trusted", refused.Message, StringComparison.Ordinal);
        using var order = ServiceCredentials.Load(new CredentialDirectory(pki.Authority.Layout.ServiceDirectory("order")));
        Assert.Equal(2, order.TrustedRoots.Count);
    }

    [Fact]
    public void A_retired_intermediate_keeps_its_crl_published_until_the_last_leaf_it_signed_expires()
    {
        using var pki = new TestPki();
        var old = pki.Authority.Issue(new LeafRequest("order") { Lifetime = TimeSpan.FromHours(1) });
        var (intermediate, _) = pki.Authority.RotateIntermediate();
        pki.Authority.Issue(new LeafRequest("order") { Lifetime = TimeSpan.FromHours(1) }); // supersedes, but the old leaf is valid for an hour

        Assert.Contains(pki.Init.Intermediate.Serial, pki.Authority.CurrentIntermediates().Select(e => e.Serial));

        pki.Time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromMinutes(1));
        pki.Authority.PublishCrls();

        Assert.Equal([intermediate.Serial], pki.Authority.CurrentIntermediates().Select(e => e.Serial));
        var issuers = CrlIssuers(File.ReadAllText(Path.Combine(old.Directory, "crl.pem")));
        Assert.DoesNotContain(pki.Init.Intermediate.Subject, issuers);
        Assert.Contains(intermediate.Subject, issuers);
    }

    [Fact]
    public void Renewing_every_leaf_leaves_certificates_written_elsewhere_as_they_are()
    {
        using var pki = new TestPki();
        pki.Authority.Issue(new LeafRequest("order"));
        var serverOnly = pki.Authority.Issue(new LeafRequest("intruder-server-only")
        {
            ExtendedKeyUsages = [CertificateFacts.ServerAuthOid],
            OutputDirectory = Path.Combine(pki.Directory, "kit", "server-only"),
        });

        var renewed = pki.Authority.RenewAll();

        Assert.Equal(["order"], renewed.Select(r => r.Entry.Service));
        Assert.Equal(serverOnly.Entry.Serial, pki.Authority.Ledger.ActiveLeaf("intruder-server-only")!.Serial);
    }

    private static List<string> CrlIssuers(string pem) => [.. Pem.ReadBlocks(pem, "X509 CRL").Select(der => RevocationList.ReadIssuer(der).Name)];

    /// <summary>
    /// Services that load their files the moment they change (their reports are read from the credential directories),
    /// except the frozen ones, which keep reporting what they had when first asked.
    /// </summary>
    private sealed class FilesFleet(CertificateAuthority authority, IReadOnlyList<string> services) : IFleet
    {
        private readonly Dictionary<string, CredentialStatus> _frozen = new(StringComparer.Ordinal);

        public HashSet<string> Frozen { get; } = new(StringComparer.Ordinal);

        public Task<IReadOnlyList<FleetMember>> ObserveAsync(CancellationToken cancellationToken)
        {
            var members = services.Select(service =>
            {
                if (Frozen.Contains(service) && _frozen.TryGetValue(service, out var frozen))
                {
                    return new FleetMember(service, frozen, null);
                }

                var status = Read(authority.Layout.ServiceDirectory(service));
                if (Frozen.Contains(service))
                {
                    _frozen[service] = status;
                }

                return new FleetMember(service, status, null);
            });
            return Task.FromResult<IReadOnlyList<FleetMember>>([.. members]);
        }

        private static CredentialStatus Read(string directory)
        {
            var directoryReader = new CredentialDirectory(directory);
            var files = directoryReader.Read();
            using var credentials = ServiceCredentials.Parse(files, directory);
            var leaf = credentials.Leaf;
            var crls = Pem.ReadBlocks(files.CrlPem, "X509 CRL").Select(der => new CrlStatus(RevocationList.ReadIssuer(der).Name, null, default, null, 0)).ToList();
            return new CredentialStatus(credentials.SpiffeId.ToString(), 1, default,
                new LeafStatus(leaf.SerialNumber, leaf.NotBefore, leaf.NotAfter, leaf.Issuer, credentials.Intermediates.Count > 0 ? credentials.Intermediates[0].SerialNumber : null),
                BundleStatus.Of(credentials.TrustedRoots), crls, new ExpiryStatus(ExpiryState.Ok, leaf.NotAfter - DateTime.UtcNow, "ok"));
        }
    }
}
