using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Tests;

public class LifecycleTests
{
    [Fact]
    public void Rotating_the_intermediate_keeps_the_root_and_new_leaves_chain_to_the_new_intermediate()
    {
        using var pki = new TestPki();
        var before = pki.Authority.Issue(new LeafRequest("order"));
        var bundleBefore = File.ReadAllText(pki.Authority.Layout.BundleFile);

        var (intermediate, _) = pki.Authority.RotateIntermediate();
        var after = pki.Authority.Issue(new LeafRequest("inventory"));

        Assert.Equal(pki.Init.Root.Serial, intermediate.IssuerSerial);
        Assert.NotEqual(pki.Init.Intermediate.Serial, intermediate.Serial);
        Assert.Equal(bundleBefore, File.ReadAllText(pki.Authority.Layout.BundleFile));
        Assert.Equal(CertificateStatus.Retired, pki.Authority.Ledger.Find(pki.Init.Intermediate.Serial)!.Status);
        Assert.Equal(intermediate.Serial, after.Entry.IssuerSerial);

        using var newLeaf = ServiceCredentials.Load(new CredentialDirectory(after.Directory));
        var newChain = newLeaf.VerifyChain(pki.Time.GetUtcNow(), CertificateFacts.ClientAuthOid);
        Assert.True(newChain.IsValid, string.Join("; ", newChain.Problems));
        Assert.Equal(intermediate.Serial, newChain.Path[1].SerialNumber);
        Assert.Equal(pki.Init.Root.Serial, newChain.Path[2].SerialNumber);

        // The leaf from the old intermediate stays valid, and its directory learned the new intermediate's CRL.
        using var oldLeaf = ServiceCredentials.Load(new CredentialDirectory(before.Directory));
        Assert.True(oldLeaf.VerifyChain(pki.Time.GetUtcNow(), CertificateFacts.ServerAuthOid).IsValid);
        var crossCheck = ChainCheck.Verify(newLeaf.Leaf, newLeaf.Intermediates, oldLeaf.TrustedRoots, oldLeaf.Revocation, pki.Time.GetUtcNow());
        Assert.Equal(RevocationStatus.Good, crossCheck.Revocation[0].Status);
    }

    [Fact]
    public void Rotating_with_renew_leaves_moves_every_active_leaf_to_the_new_intermediate()
    {
        using var pki = new TestPki();
        pki.Authority.Issue(new LeafRequest("order"));
        pki.Authority.Issue(new LeafRequest("payment"));

        var (intermediate, renewed) = pki.Authority.RotateIntermediate(renewLeaves: true);

        Assert.Equal(["order", "payment"], renewed.Select(r => r.Entry.Service).Order());
        Assert.All(pki.Authority.Ledger.Find(CertificateKind.Leaf, CertificateStatus.Active), e => Assert.Equal(intermediate.Serial, e.IssuerSerial));
    }

    [Fact]
    public async Task A_reader_polling_during_100_rewrites_never_sees_a_certificate_with_another_generations_key()
    {
        using var pki = new TestPki();
        var directory = new CredentialDirectory(pki.Authority.Issue(new LeafRequest("order")).Directory);
        using var done = new CancellationTokenSource();
        var reads = 0;
        var serials = new HashSet<string>();

        var reader = Task.Run(() =>
        {
            while (!done.IsCancellationRequested)
            {
                // Throws if tls.key does not match tls.crt.
                using var credentials = ServiceCredentials.Load(directory);
                serials.Add(credentials.Leaf.SerialNumber);
                Interlocked.Increment(ref reads);
            }
        });
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref reads) > 0 || reader.IsCompleted, TimeSpan.FromSeconds(30)), "the reader never started");

        for (var i = 0; i < 100; i++)
        {
            pki.Authority.Renew("order");
        }

        done.Cancel();
        await reader;

        Assert.True(reads > 0);
        Assert.True(serials.Count > 1, "the reader should have seen several generations");
        var generations = Directory.GetDirectories(directory.Path, "..*").Where(d => !d.EndsWith("..data", StringComparison.Ordinal)).ToList();
        Assert.InRange(generations.Count, 1, 2);
    }

    [Fact]
    public void A_plain_reader_of_the_top_level_links_reads_a_matching_pair_between_rewrites()
    {
        using var pki = new TestPki();
        var issued = pki.Authority.Issue(new LeafRequest("order"));
        pki.Authority.Renew("order");

        // As openssl or curl would: straight through tls.crt and tls.key.
        using var certificate = X509Certificate2.CreateFromPemFile(Path.Combine(issued.Directory, "tls.crt"), Path.Combine(issued.Directory, "tls.key"));
        Assert.Equal(pki.Authority.Ledger.ActiveLeaf("order")!.Serial, certificate.SerialNumber);
    }

    [Fact]
    public async Task Concurrent_issuers_in_separate_processes_never_corrupt_the_ledger_or_reuse_a_serial()
    {
        using var pki = new TestPki(passphrase: PassphraseSource.Local);
        var cli = Path.Combine(AppContext.BaseDirectory, "CertBootstrap.dll");
        const int perProcess = 6;

        // Two processes, each issuing a sequence, and this process issuing concurrently too.
        var processes = Enumerable.Range(0, 2).Select(p => Task.Run(() =>
        {
            for (var i = 0; i < perProcess; i++)
            {
                var (exit, output) = ProcessRunner.Run("dotnet", [cli, "issue", "--pki", pki.PkiDirectory, "--service", $"proc{p}-svc{i}"], TimeSpan.FromSeconds(60));
                Assert.True(exit == 0, output);
            }
        })).ToList();
        var inProcess = Enumerable.Range(0, 4).Select(w => Task.Run(() =>
        {
            var authority = pki.Reopen(PassphraseSource.Local);
            for (var i = 0; i < 15; i++)
            {
                authority.Issue(new LeafRequest($"worker{w}"));
            }
        })).ToList();
        await Task.WhenAll(processes.Concat(inProcess));

        var leaves = pki.Authority.Ledger.All().Where(e => e.Kind == CertificateKind.Leaf).ToList();
        Assert.Equal((2 * perProcess) + (4 * 15), leaves.Count);
        Assert.Equal(leaves.Count, leaves.Select(e => e.Serial).Distinct().Count());
        Assert.All(Enumerable.Range(0, 4), w => Assert.Single(leaves, e => e.Service == $"worker{w}" && e.Status == CertificateStatus.Active));

        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={pki.Authority.Ledger.Path}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA integrity_check";
        Assert.Equal("ok", command.ExecuteScalar());
    }

    [Fact]
    public void Expiry_is_judged_on_the_injected_clock()
    {
        using var pki = new TestPki();
        var issued = pki.Authority.Issue(new LeafRequest("order") { Lifetime = TimeSpan.FromHours(1) });
        using var credentials = ServiceCredentials.Load(new CredentialDirectory(issued.Directory));

        Assert.True(credentials.VerifyChain(pki.Time.GetUtcNow()).IsValid);
        pki.Time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        var expired = credentials.VerifyChain(pki.Time.GetUtcNow());
        var early = credentials.VerifyChain(pki.Time.GetUtcNow().AddHours(-1).AddMinutes(-7));

        Assert.False(expired.IsValid);
        Assert.Contains(expired.Problems, p => p.Contains("expired", StringComparison.Ordinal) && p.Contains("'CN=order", StringComparison.Ordinal));
        Assert.False(early.IsValid);
        Assert.Contains(early.Problems, p => p.Contains("not valid yet", StringComparison.Ordinal));
        Assert.True(pki.Authority.Ledger.Find(issued.Entry.Serial)!.IsExpired(pki.Time.GetUtcNow()));
    }

    [Fact]
    public void The_ledger_keeps_a_timeline_of_the_lifecycle()
    {
        using var pki = new TestPki();
        var issued = pki.Authority.Issue(new LeafRequest("order"));
        pki.Authority.Renew("order");
        pki.Authority.Revoke(issued.Entry.Serial);
        pki.Authority.RotateIntermediate();

        var kinds = pki.Authority.Ledger.Events().Select(e => e.Kind).ToList();

        Assert.Equal(["initialized", "intermediate-issued", "issued", "issued", "revoked", "intermediate-issued"], kinds);
    }
}
