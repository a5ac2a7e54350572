using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.CertBootstrap.Cli;

namespace MtlsAspire.CertBootstrap.Tests;

public sealed class CliTests : IDisposable
{
    private readonly string _directory = TempDirectory.Create();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));

    private string Pki => Path.Combine(_directory, "pki");

    private string Order => Path.Combine(Pki, "services", "order");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        TempDirectory.Delete(_directory);
    }

    private async Task<(int Exit, string Output, string Error)> Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await CertBootstrapCli.RunAsync(args, output, error, _time);
        return (exit, output.ToString(), error.ToString());
    }

    private async Task InitAndIssueOrder()
    {
        Assert.Equal(0, (await Run("init", "--pki", Pki)).Exit);
        Assert.Equal(0, (await Run("issue", "--pki", Pki, "--service", "order", "--dns", "localhost", "--ip", "127.0.0.1")).Exit);
    }

    [Fact]
    public async Task Init_creates_the_hierarchy_and_says_where_the_generated_passphrase_is()
    {
        var (exit, output, error) = await Run("init", "--pki", Pki, "--trust-domain", "shop.example", "--environment", "staging", "--key-type", "rsa-2048");

        Assert.Equal(0, exit);
        Assert.Empty(error);
        Assert.Contains("trust domain shop.example, environment staging, rsa-2048", output, StringComparison.Ordinal);
        Assert.Contains("Generated a random root key passphrase in", output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(Pki, "ca.crt")));

        var issued = await Run("issue", "--pki", Pki, "--service", "order");
        Assert.Contains("spiffe://shop.example/ns/staging/sa/order", issued.Output, StringComparison.Ordinal);
        Assert.Contains("(rsa-2048)", issued.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_describes_a_valid_leaf_in_words()
    {
        await InitAndIssueOrder();

        var (exit, output, _) = await Run("inspect", Path.Combine(Order, "tls.crt"));

        Assert.Equal(0, exit);
        Assert.Contains("SPIFFE ID       spiffe://mtls-aspire.local/ns/development/sa/order", output, StringComparison.Ordinal);
        Assert.Contains("DNS names       localhost", output, StringComparison.Ordinal);
        Assert.Contains("IP addresses    127.0.0.1", output, StringComparison.Ordinal);
        Assert.Contains("Key             ECDSA P-256", output, StringComparison.Ordinal);
        Assert.Contains("Extended usage  serverAuth, clientAuth", output, StringComparison.Ordinal);
        Assert.Contains("(1d 0h left)", output, StringComparison.Ordinal);
        Assert.Contains("builds to a trusted root", output, StringComparison.Ordinal);
        Assert.Contains("Trust domain    the root is bound to spiffe://mtls-aspire.local", output, StringComparison.Ordinal);
        Assert.Contains("not revoked (CRL #", output, StringComparison.Ordinal);
        Assert.Contains("Verdict         OK", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_refuses_a_leaf_claiming_our_id_under_a_root_bound_to_another_trust_domain()
    {
        // A partner's root, marked spiffe://partner.example, signs a leaf that claims one of our IDs: its chain builds, but
        // a peer of mtls-aspire.local refuses it (trust-domain-mismatch), and inspect says so.
        using var forged = ForgedChain.Create(Path.Combine(_directory, "forged"), _time.GetUtcNow(), "spiffe://mtls-aspire.local/ns/development/sa/order", "partner.example");
        var directory = forged.Directory;

        var (exit, output, error) = await Run("inspect", Path.Combine(directory, "tls.crt"));

        Assert.Equal(CertBootstrapCli.NotValid, exit);
        Assert.Contains("builds to a trusted root", output, StringComparison.Ordinal);
        Assert.Contains("Trust domain    the root is bound to spiffe://partner.example", output, StringComparison.Ordinal);
        Assert.Contains("binds to another trust domain", error, StringComparison.Ordinal);
        Assert.Contains("claims spiffe://mtls-aspire.local/ns/development/sa/order", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_of_an_expired_leaf_gives_both_times_and_exit_code_3()
    {
        await InitAndIssueOrder();
        _time.Advance(TimeSpan.FromHours(27));

        var (exit, output, error) = await Run("inspect", Path.Combine(Order, "tls.crt"));

        Assert.Equal(CertBootstrapCli.NotValid, exit);
        Assert.Contains("EXPIRED 3h", output, StringComparison.Ordinal);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("expired: notAfter", line, StringComparison.Ordinal);
        Assert.Contains(", now ", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_of_a_revoked_leaf_names_the_reason()
    {
        await InitAndIssueOrder();
        Assert.Equal(0, (await Run("revoke", "--pki", Pki, "--service", "order", "--reason", "key-compromise", "--no-reissue")).Exit);

        var (exit, output, error) = await Run("inspect", Path.Combine(Order, "tls.crt"));

        Assert.Equal(CertBootstrapCli.NotValid, exit);
        Assert.Contains("REVOKED since", output, StringComparison.Ordinal);
        Assert.Contains("keyCompromise", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoking_a_service_gives_it_a_new_key_and_certificate_and_the_old_one_is_listed_in_its_crl()
    {
        await InitAndIssueOrder();
        var before = await File.ReadAllTextAsync(Path.Combine(Order, "tls.crt"));
        var keyBefore = await File.ReadAllTextAsync(Path.Combine(Order, "tls.key"));

        var (exit, output, _) = await Run("revoke", "--pki", Pki, "--service", "order", "--reason", "keyCompromise");

        Assert.Equal(0, exit);
        Assert.Contains("Re-issued (new key)", output, StringComparison.Ordinal);
        Assert.NotEqual(keyBefore, await File.ReadAllTextAsync(Path.Combine(Order, "tls.key")));
        Assert.Equal(0, (await Run("inspect", Path.Combine(Order, "tls.crt"))).Exit);
        var oldLeaf = Path.Combine(Order, "..", "old.crt");
        await File.WriteAllTextAsync(oldLeaf, before);
        var (oldExit, _, oldError) = await Run("inspect", oldLeaf, "--bundle", Path.Combine(Order, "ca.crt"), "--crl", Path.Combine(Order, "crl.pem"));
        Assert.Equal(CertBootstrapCli.NotValid, oldExit);
        Assert.Contains("keyCompromise", oldError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rotate_root_refuses_without_the_apps_endpoints_file_and_with_offline_does_all_three_steps()
    {
        await InitAndIssueOrder();
        var rootBefore = await File.ReadAllTextAsync(Path.Combine(Order, "ca.crt"));

        var (refused, _, why) = await Run("rotate-root", "--pki", Pki);

        Assert.Equal(CertBootstrapCli.Failed, refused);
        Assert.Contains("endpoints.json does not exist", why, StringComparison.Ordinal);
        Assert.Contains("--offline", why, StringComparison.Ordinal);
        Assert.Equal(rootBefore, await File.ReadAllTextAsync(Path.Combine(Order, "ca.crt")));

        var (exit, output, error) = await Run("rotate-root", "--pki", Pki, "--offline");

        Assert.True(exit == 0, output + error);
        Assert.Contains("root rotation done", output, StringComparison.Ordinal);
        var roots = MtlsAspire.Verification.Certificates.Pem.ReadCertificates(await File.ReadAllTextAsync(Path.Combine(Order, "ca.crt")), "ca.crt");
        Assert.Single(roots);
        Assert.DoesNotContain(roots[0].ExportCertificatePem(), rootBefore, StringComparison.Ordinal);
        Assert.Equal(0, (await Run("inspect", Path.Combine(Order, "tls.crt"))).Exit); // order's leaf is under the new root
    }

    [Fact]
    public async Task Inspect_against_another_pkis_bundle_reports_an_unknown_ca()
    {
        await InitAndIssueOrder();
        var otherPki = Path.Combine(_directory, "other");
        Assert.Equal(0, (await Run("init", "--pki", otherPki)).Exit);

        var (exit, output, error) = await Run("inspect", Path.Combine(Order, "tls.crt"), "--bundle", Path.Combine(otherPki, "ca.crt"));

        Assert.Equal(CertBootstrapCli.NotValid, exit);
        Assert.Contains("NOT trusted by", output, StringComparison.Ordinal);
        Assert.Contains("unknown CA", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Renew_revoke_rotate_crl_and_list_work_together()
    {
        await InitAndIssueOrder();

        var renew = await Run("renew", "--pki", Pki, "--service", "order");
        Assert.Equal(0, renew.Exit);
        Assert.Contains("Renewed spiffe://mtls-aspire.local/ns/development/sa/order", renew.Output, StringComparison.Ordinal);

        var rotate = await Run("rotate-intermediate", "--pki", Pki, "--renew-leaves");
        Assert.Equal(0, rotate.Exit);
        Assert.Contains("Rotated the intermediate CA", rotate.Output, StringComparison.Ordinal);

        var crl = await Run("crl", "--pki", Pki);
        Assert.Equal(0, crl.Exit);
        Assert.Equal(3, crl.Output.Split('\n').Count(l => l.StartsWith("CRL #", StringComparison.Ordinal))); // two intermediates and the root
        Assert.Contains("crl.pem republished to 1 service directories", crl.Output, StringComparison.Ordinal);

        var list = await Run("list", "--pki", Pki);
        Assert.Equal(0, list.Exit);
        Assert.Contains("superseded", list.Output, StringComparison.Ordinal);
        Assert.Contains("retired", list.Output, StringComparison.Ordinal);
        Assert.Equal(1, list.Output.Split('\n').Count(l => l.Contains("active", StringComparison.Ordinal) && l.Contains("sa/order", StringComparison.Ordinal)));

        var events = await Run("list", "--pki", Pki, "--events");
        Assert.Contains("intermediate-issued", events.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Failures_exit_1_with_one_line_naming_the_value()
    {
        await InitAndIssueOrder();

        var unknown = await Run("revoke", "--pki", Pki, "--serial", "0A:BC:DE");
        Assert.Equal(CertBootstrapCli.Failed, unknown.Exit);
        Assert.Equal("error: No certificate with serial 0A:BC:DE was issued by this PKI (see 'list --pki " + Path.GetFullPath(Pki) + "').", unknown.Error.Trim());

        var again = await Run("init", "--pki", Pki);
        Assert.Equal(CertBootstrapCli.Failed, again.Exit);
        Assert.Single(again.Error.Trim().Split('\n'));

        var passphraseFile = Path.Combine(_directory, "wrong-passphrase");
        await File.WriteAllTextAsync(passphraseFile, "nope\n");
        var wrong = await Run("rotate-intermediate", "--pki", Pki, "--passphrase-file", passphraseFile);
        Assert.Equal(CertBootstrapCli.Failed, wrong.Exit);
        Assert.Contains($"the passphrase from {passphraseFile}: wrong passphrase", wrong.Error, StringComparison.Ordinal);

        var badLifetime = await Run("issue", "--pki", Pki, "--service", "order", "--lifetime", "soon");
        Assert.Equal(CertBootstrapCli.Failed, badLifetime.Exit);
        Assert.Contains("'soon' is not a duration", badLifetime.Error, StringComparison.Ordinal);

        var badIp = await Run("issue", "--pki", Pki, "--service", "order", "--ip", "localhost");
        Assert.Contains("'localhost' is not an IP address", badIp.Error, StringComparison.Ordinal);

        var noPki = await Run("list", "--pki", Path.Combine(_directory, "nothing-here"));
        Assert.Contains("run 'init", noPki.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_refuses_to_call_a_leaf_good_when_the_crl_cannot_vouch_for_it()
    {
        await InitAndIssueOrder();
        var otherPki = Path.Combine(_directory, "other");
        Assert.Equal(0, (await Run("init", "--pki", otherPki)).Exit);

        // A CRL file holding only another PKI's CRLs: nothing verifies for our intermediate.
        var foreign = await Run("inspect", Path.Combine(Order, "tls.crt"), "--crl", Path.Combine(otherPki, "crl", Directory.GetFiles(Path.Combine(otherPki, "crl"), "*.pem")[0]));
        Assert.Equal(CertBootstrapCli.NotValid, foreign.Exit);
        Assert.Contains("cannot be checked for revocation", foreign.Error, StringComparison.Ordinal);

        // Our own CRL, two hours later: past its nextUpdate.
        _time.Advance(TimeSpan.FromHours(2));
        var stale = await Run("inspect", Path.Combine(Order, "tls.crt"));
        Assert.Equal(CertBootstrapCli.NotValid, stale.Exit);
        Assert.Contains("is stale", stale.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_damaged_ledger_is_one_line_naming_it()
    {
        await InitAndIssueOrder();
        SqliteConnection.ClearAllPools();
        await File.WriteAllTextAsync(Path.Combine(Pki, "ledger.db"), "this is not a database, it is garbage bytes.............................................................");
        foreach (var suffix in new[] { "-wal", "-shm" })
        {
            File.Delete(Path.Combine(Pki, "ledger.db" + suffix));
        }

        var (exit, _, error) = await Run("list", "--pki", Pki);

        Assert.Equal(CertBootstrapCli.Failed, exit);
        Assert.Single(error.Trim().Split('\n'));
        Assert.Contains("ledger", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Command_line_mistakes_exit_2()
    {
        Assert.Equal(CertBootstrapCli.Usage, (await Run("issue", "--service", "order")).Exit);
        Assert.Equal(CertBootstrapCli.Usage, (await Run("init", "--pki", Pki, "--key-type", "dsa")).Exit);
        var both = await Run("revoke", "--pki", Pki, "--serial", "01", "--service", "order");
        Assert.Equal(CertBootstrapCli.Usage, both.Exit);
        Assert.Contains("exactly one of --serial or --service", both.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Pki));
    }
}
