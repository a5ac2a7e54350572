using System.Security.Cryptography.X509Certificates;
using Microsoft.Data.Sqlite;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Tests;

public class BatchIssuanceTests
{
    private static LeafRequest[] Requests(params string[] services) => [.. services.Select(s => new LeafRequest(s))];

    private static string[] Services(int count) => [.. Enumerable.Range(1, count).Select(i => $"svc-{i:D3}")];

    /// <summary>What a directory looks like now: its current generation, every generation in it, the serial it serves.</summary>
    private static (string Current, string Generations, string Serial) Snapshot(string directory) =>
        (new CredentialDirectory(directory).ResolveCurrentGeneration(),
         string.Join(' ', Directory.EnumerateDirectories(directory, "..*").Select(Path.GetFileName).Where(n => n != CredentialDirectory.DataLinkName).Order(StringComparer.Ordinal)),
         X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(directory, "tls.crt"))).SerialNumber);

    private static int LeafCount(TestPki pki) => pki.Authority.Ledger.All().Count(e => e.Kind == CertificateKind.Leaf);

    [Fact]
    public void A_batch_records_and_publishes_every_leaf_with_a_chain_that_verifies()
    {
        using var pki = new TestPki();
        var services = Services(Environment.ProcessorCount * 8);

        var issued = pki.Authority.IssueMany(Requests(services));

        Assert.Equal(services, issued.Select(l => l.Entry.Service));
        Assert.Equal(services.Length, issued.Select(l => l.Entry.Serial).Distinct().Count());
        foreach (var leaf in issued)
        {
            Assert.Equal(leaf.Entry.Serial, pki.Authority.Ledger.ActiveLeaf(leaf.Entry.Service!)!.Serial);
            using var credentials = ServiceCredentials.Load(new CredentialDirectory(leaf.Directory));
            Assert.Equal(leaf.Entry.Serial, credentials.Leaf.SerialNumber);
            Assert.Equal(leaf.SpiffeId, credentials.SpiffeId);
            var check = credentials.VerifyChain(pki.Time.GetUtcNow(), CertificateFacts.ClientAuthOid, CertificateFacts.ServerAuthOid);
            Assert.True(check.IsValid, string.Join("; ", check.Problems));
            Assert.All(check.Revocation, r => Assert.Equal(RevocationStatus.Good, r.Status));

            var generation = new CredentialDirectory(leaf.Directory).ResolveCurrentGeneration();
            Assert.Equal(SecureFiles.Secret, File.GetUnixFileMode(Path.Combine(generation, "tls.key")));
            Assert.Equal(SecureFiles.PrivateDirectory, File.GetUnixFileMode(generation));
        }

        Assert.Equal(services.Length, pki.Authority.Ledger.Events().Count(e => e.Kind == "issued"));
    }

    [Fact]
    public void A_batch_renewal_supersedes_each_services_previous_leaf()
    {
        using var pki = new TestPki();
        var first = pki.Authority.IssueMany(Requests(Services(5)));

        var renewed = pki.Authority.RenewAll();

        Assert.Equal(first.Select(l => l.Entry.Service).Order(), renewed.Select(l => l.Entry.Service).Order());
        Assert.All(first, l => Assert.Equal(CertificateStatus.Superseded, pki.Authority.Ledger.Find(l.Entry.Serial)!.Status));
        Assert.All(renewed, l => Assert.Equal(l.Entry.Serial, Snapshot(l.Directory).Serial));
    }

    [Fact]
    public void A_batch_with_an_invalid_request_issues_nothing()
    {
        using var pki = new TestPki();
        var existing = pki.Authority.Issue(new LeafRequest("svc-a"));
        var before = Snapshot(existing.Directory);

        Assert.Throws<PkiException>(() => pki.Authority.IssueMany(Requests("svc-a", "svc-b", "Not_A_Name", "svc-c")));

        Assert.Equal(1, LeafCount(pki));
        Assert.Equal(before, Snapshot(existing.Directory));
        Assert.False(Directory.Exists(pki.Authority.Layout.ServiceDirectory("svc-b")));
    }

    [Fact]
    public void A_batch_that_names_one_directory_twice_is_refused()
    {
        using var pki = new TestPki();

        var e = Assert.Throws<PkiException>(() => pki.Authority.IssueMany(Requests("svc-a", "svc-b", "svc-a")));

        Assert.Contains("once", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, LeafCount(pki));
    }

    [Fact]
    public void A_ledger_failure_mid_batch_records_nothing_and_swaps_in_no_generation()
    {
        using var pki = new TestPki();
        var services = Services(6);
        var first = pki.Authority.IssueMany(Requests(services));
        var before = first.Select(l => Snapshot(l.Directory)).ToList();
        using (var connection = new SqliteConnection($"Data Source={pki.Authority.Ledger.Path};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "CREATE TRIGGER fail_svc_004 BEFORE INSERT ON certificates WHEN NEW.service = 'svc-004' BEGIN SELECT RAISE(ABORT, 'injected'); END";
            command.ExecuteNonQuery();
        }

        Assert.Throws<SqliteException>(() => pki.Authority.IssueMany(Requests(services)));

        Assert.Equal(services.Length, LeafCount(pki));
        Assert.All(first, l => Assert.Equal(l.Entry.Serial, pki.Authority.Ledger.ActiveLeaf(l.Entry.Service!)!.Serial));
        Assert.Equal(before, first.Select(l => Snapshot(l.Directory)).ToList()); // same current generation, no staged one left behind
    }

    [Fact]
    public void A_directory_that_cannot_be_written_mid_batch_leaves_every_directory_as_it_was()
    {
        using var pki = new TestPki();
        var first = pki.Authority.IssueMany(Requests("svc-a", "svc-b"));
        var before = first.Select(l => Snapshot(l.Directory)).ToList();
        var blocked = Path.Combine(pki.Directory, "not-a-directory");
        File.WriteAllText(blocked, "a file where the service directory should be");

        Assert.Throws<PkiException>(() => pki.Authority.IssueMany(
            [new LeafRequest("svc-a"), new LeafRequest("svc-c") { OutputDirectory = Path.Combine(blocked, "svc-c") }, new LeafRequest("svc-b")]));

        Assert.Equal(2, LeafCount(pki));
        Assert.Equal(before, first.Select(l => Snapshot(l.Directory)).ToList());
    }

    [Fact]
    public void Generations_share_one_copy_of_the_bundle_and_crl_and_keep_it_when_the_crl_changes()
    {
        using var pki = new TestPki();
        var (a, b) = (pki.Authority.Issue(new LeafRequest("svc-a")), pki.Authority.Issue(new LeafRequest("svc-b")));
        var victim = pki.Authority.Issue(new LeafRequest("svc-victim"));
        string InGeneration(IssuedLeaf leaf, string name) => Path.Combine(new CredentialDirectory(leaf.Directory).ResolveCurrentGeneration(), name);
        foreach (var name in new[] { "ca.crt", "crl.pem" })
        {
            Assert.Equal(FileIdentity.Of(InGeneration(a, name)).Inode, FileIdentity.Of(InGeneration(b, name)).Inode);
            Assert.Equal(SecureFiles.Public, File.GetUnixFileMode(InGeneration(a, name)));
        }

        var oldCrl = InGeneration(a, "crl.pem");
        var oldCrlText = File.ReadAllText(oldCrl);

        pki.Time.Advance(TimeSpan.FromMinutes(1));
        pki.Authority.Revoke(victim.Entry.Serial, X509RevocationReason.KeyCompromise);

        // Every directory got a generation whose crl.pem lists the victim; the one it replaced still says what it said.
        var newCrl = InGeneration(a, "crl.pem");
        Assert.NotEqual(FileIdentity.Of(oldCrl).Inode, FileIdentity.Of(newCrl).Inode);
        Assert.Equal(FileIdentity.Of(newCrl).Inode, FileIdentity.Of(InGeneration(b, "crl.pem")).Inode);
        Assert.Equal(oldCrlText, File.ReadAllText(oldCrl));
        using var credentials = ServiceCredentials.Load(new CredentialDirectory(a.Directory));
        using var victimLeaf = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(victim.Directory, "tls.crt")));
        Assert.Equal(RevocationStatus.Revoked, credentials.Revocation.Check(victimLeaf, credentials.Intermediates[0], pki.Time.GetUtcNow()).Status);
        Assert.Equal(SecureFiles.Secret, File.GetUnixFileMode(InGeneration(a, "tls.key")));

        // The store keeps only what new generations link: the current bundle and crl.pem.
        pki.Authority.Issue(new LeafRequest("svc-c"));
        Assert.Equal(2, Directory.GetFiles(pki.Authority.Layout.ContentDirectory).Length);
    }
}
