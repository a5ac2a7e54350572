using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Tests;

/// <summary>Each bad input is one clear error naming the file or value, and nothing already issued is lost.</summary>
public class BadInputTests
{
    /// <summary>Everything that must survive a failed operation: the ledger and every service's files.</summary>
    private static string Snapshot(TestPki pki) =>
        string.Join("\n", pki.Authority.Ledger.All().Select(e => $"{e.Serial} {e.Status}"))
        + string.Join("\n", Directory.EnumerateFiles(pki.Authority.Layout.ServiceDirectory("order"), "*", SearchOption.TopDirectoryOnly).Order()
            .Select(f => f + ":" + File.ReadAllText(f)));

    private static TestPki WithOrder()
    {
        var pki = new TestPki();
        pki.Authority.Issue(new LeafRequest("order"));
        return pki;
    }

    [Fact]
    public void A_wrong_passphrase_names_the_root_key_and_the_source_and_issues_nothing()
    {
        using var pki = WithOrder();
        var before = Snapshot(pki);

        var error = Assert.Throws<PkiException>(() => pki.Reopen(PassphraseSource.FromValue("not it")).RotateIntermediate());

        Assert.Contains(PkiLayout.KeyIn(pki.Authority.Layout.RootDirectory(pki.Init.Root.Serial)), error.Message, StringComparison.Ordinal);
        Assert.Contains("wrong passphrase", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("not it", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(pki));
    }

    [Fact]
    public void A_truncated_intermediate_certificate_is_named_and_the_service_keeps_its_files()
    {
        using var pki = WithOrder();
        var before = Snapshot(pki);
        var path = PkiLayout.CertificateIn(pki.Authority.Layout.IntermediateDirectory(pki.Init.Intermediate.Serial));
        var text = File.ReadAllText(path);
        File.WriteAllText(path, text[..(text.Length / 2)]);

        var error = Assert.Throws<PkiException>(() => pki.Reopen().Renew("order"));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(pki));
    }

    [Fact]
    public void A_corrupted_pem_body_is_reported_as_damaged()
    {
        using var pki = WithOrder();
        var path = PkiLayout.CertificateIn(pki.Authority.Layout.IntermediateDirectory(pki.Init.Intermediate.Serial));
        var lines = File.ReadAllLines(path);
        lines[3] = new string('A', lines[3].Length);
        File.WriteAllLines(path, lines);

        var error = Assert.Throws<PkiException>(() => pki.Reopen().Issue(new LeafRequest("inventory")));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("damaged", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_that_does_not_match_its_certificate_is_refused()
    {
        using var pki = WithOrder();
        var before = Snapshot(pki);
        var (second, _) = pki.Authority.RotateIntermediate();
        before = Snapshot(pki);
        var firstKey = PkiLayout.KeyIn(pki.Authority.Layout.IntermediateDirectory(pki.Init.Intermediate.Serial));
        var secondKey = PkiLayout.KeyIn(pki.Authority.Layout.IntermediateDirectory(second.Serial));
        File.Copy(firstKey, secondKey, overwrite: true);

        var error = Assert.Throws<PkiException>(() => pki.Reopen().Renew("order"));

        Assert.Contains(secondKey, error.Message, StringComparison.Ordinal);
        Assert.Contains("does not match", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(pki));
    }

    [Fact]
    public void A_service_key_that_does_not_match_its_certificate_is_refused_by_the_reader()
    {
        using var pki = WithOrder();
        var other = pki.Authority.Issue(new LeafRequest("payment"));
        var files = new CredentialDirectory(pki.Authority.Layout.ServiceDirectory("order")).Read();
        var mismatched = files with { KeyPem = new CredentialDirectory(other.Directory).Read().KeyPem };

        var error = Assert.Throws<InvalidDataException>(() => ServiceCredentials.Parse(mismatched, "/svc/order"));

        Assert.Contains("/svc/order/tls.key does not match the certificate", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Order")]
    [InlineData("order_service")]
    [InlineData("-order")]
    [InlineData("")]
    public void An_invalid_service_name_is_refused_by_name(string service)
    {
        using var pki = WithOrder();
        var before = Snapshot(pki);

        var error = Assert.Throws<PkiException>(() => pki.Authority.Issue(new LeafRequest(service)));

        Assert.Contains($"'{service}'", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(pki));
    }

    [Theory]
    [InlineData("Example.org")]
    [InlineData("example.org:443")]
    [InlineData("")]
    public void An_invalid_trust_domain_is_refused_at_init(string trustDomain)
    {
        var directory = TempDirectory.Create();
        try
        {
            var error = Assert.Throws<PkiException>(() => CertificateAuthority.Initialize(Path.Combine(directory, "pki"),
                new PkiSettings { TrustDomain = trustDomain }, PassphraseSource.FromValue("x"), TimeProvider.System));

            Assert.Contains($"'{trustDomain}'", error.Message, StringComparison.Ordinal);
            Assert.False(Directory.Exists(Path.Combine(directory, "pki")));
        }
        finally
        {
            TempDirectory.Delete(directory);
        }
    }

    [Fact]
    public void Revoking_an_unknown_serial_says_so_and_changes_nothing()
    {
        using var pki = WithOrder();
        var before = Snapshot(pki);

        var error = Assert.Throws<PkiException>(() => pki.Authority.Revoke("DEADBEEF"));

        Assert.Contains("DEADBEEF", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(pki));
        Assert.Throws<PkiException>(() => pki.Authority.Revoke("not-hex"));
    }

    [Fact]
    public void Revoking_twice_or_revoking_the_root_is_refused()
    {
        using var pki = WithOrder();
        var serial = pki.Authority.Ledger.ActiveLeaf("order")!.Serial;
        pki.Authority.Revoke(serial);

        Assert.Contains("already revoked", Assert.Throws<PkiException>(() => pki.Authority.Revoke(serial)).Message, StringComparison.Ordinal);
        Assert.Contains("root CA", Assert.Throws<PkiException>(() => pki.Authority.Revoke(pki.Init.Root.Serial)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unwritable_output_directory_is_named_and_leaves_no_trace_in_the_ledger()
    {
        using var pki = WithOrder();
        var before = Snapshot(pki);
        var blocker = Path.Combine(pki.Directory, "a-file");
        File.WriteAllText(blocker, "in the way");
        var target = Path.Combine(blocker, "order");

        var error = Assert.Throws<PkiException>(() => pki.Authority.Issue(new LeafRequest("order") { OutputDirectory = target }));

        Assert.Contains(target, error.Message, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(pki));
    }

    [Fact]
    public void A_second_init_is_refused_and_force_moves_the_old_pki_aside_intact()
    {
        using var pki = WithOrder();
        var before = Snapshot(pki);

        var error = Assert.Throws<PkiException>(() => CertificateAuthority.Initialize(pki.PkiDirectory, new PkiSettings(), PassphraseSource.FromValue("x"), pki.Time));
        Assert.Contains(pki.PkiDirectory, error.Message, StringComparison.Ordinal);
        Assert.Contains("--force", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(pki));

        var (fresh, result) = CertificateAuthority.Initialize(pki.PkiDirectory, new PkiSettings(), PassphraseSource.FromValue("x"), pki.Time, force: true);
        Assert.NotNull(result.ReplacedDirectory);
        Assert.NotEqual(pki.Init.Root.Serial, result.Root.Serial);
        Assert.DoesNotContain(fresh.Ledger.All(), e => e.Kind == CertificateKind.Leaf);
        var moved = CertificateAuthority.Open(result.ReplacedDirectory!, PassphraseSource.FromValue(TestPki.Passphrase), pki.Time);
        Assert.Equal(pki.Init.Root.Serial, moved.Ledger.All()[0].Serial);
        Assert.NotNull(ServiceCredentials.Load(new CredentialDirectory(Path.Combine(result.ReplacedDirectory!, "services", "order"))));
    }

    [Fact]
    public void Opening_a_directory_without_a_pki_says_to_run_init()
    {
        var directory = TempDirectory.Create();
        try
        {
            var error = Assert.Throws<PkiException>(() => CertificateAuthority.Open(directory, PassphraseSource.Local, TimeProvider.System));
            Assert.Contains("init", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            TempDirectory.Delete(directory);
        }
    }

    [Fact]
    public void Issuing_after_the_active_intermediate_is_revoked_asks_for_a_rotation()
    {
        using var pki = WithOrder();
        pki.Authority.Revoke(pki.Init.Intermediate.Serial, System.Security.Cryptography.X509Certificates.X509RevocationReason.CACompromise);

        var error = Assert.Throws<PkiException>(() => pki.Authority.Issue(new LeafRequest("inventory")));

        Assert.Contains("rotate-intermediate", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_damaged_service_crl_fails_parsing_with_the_file_named()
    {
        using var pki = WithOrder();
        var files = new CredentialDirectory(pki.Authority.Layout.ServiceDirectory("order")).Read();

        var error = Assert.Throws<InvalidDataException>(() => ServiceCredentials.Parse(files with { CrlPem = files.CrlPem.Replace("MII", "MIJ", StringComparison.Ordinal) }, "/svc/order"));

        Assert.Contains("/svc/order/crl.pem", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_service_certificate_fails_parsing_with_the_file_named()
    {
        using var pki = WithOrder();
        var files = new CredentialDirectory(pki.Authority.Layout.ServiceDirectory("order")).Read();

        var error = Assert.Throws<InvalidDataException>(() => ServiceCredentials.Parse(files with { CertificatePem = files.CertificatePem[..100] }, "/svc/order"));

        Assert.Contains("/svc/order/tls.crt", error.Message, StringComparison.Ordinal);
        Assert.Empty(Pem.ReadBlocks(files.CertificatePem[..100], "CERTIFICATE"));
    }
}
