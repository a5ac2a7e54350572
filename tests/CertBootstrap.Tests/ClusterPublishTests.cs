using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.CertBootstrap.Certificates;
using MtlsAspire.CertBootstrap.Cli;
using MtlsAspire.CertBootstrap.Cluster;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Tests;

/// <summary>
/// <c>publish-cluster</c> against CA Secrets laid out as cert-manager writes them: a self-signed root, an intermediate
/// signed by it (tls.crt = intermediate, then root), two SPIFFE leaves under the intermediate. openssl judges the result.
/// </summary>
public sealed class ClusterPublishTests : IDisposable
{
    private readonly string _directory = TempDirectory.Create();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
    private readonly X509Certificate2 _root;
    private readonly X509Certificate2 _intermediate;
    private readonly X509Certificate2 _revokedLeaf;
    private readonly X509Certificate2 _goodLeaf;

    public ClusterPublishTests()
    {
        var now = _time.GetUtcNow();
        _root = CertManager.SelfSignedCa("CN=Cluster Root CA, O=MtlsAspire Tests", now.AddDays(-1), now.AddYears(10));
        _intermediate = CertManager.Issue(_root, "CN=Cluster Intermediate CA, O=MtlsAspire Tests", now.AddMinutes(-5), now.AddYears(1), ca: true);
        _revokedLeaf = CertManager.Issue(_intermediate, "CN=order", now.AddMinutes(-5), now.AddDays(1), ca: false, spiffeId: "spiffe://mtls-aspire.local/ns/production/sa/order",
            serial: [0x00, 0x8F, .. RandomNumberGenerator.GetBytes(15)]); // top bit set: its DER integer needs the leading zero
        _goodLeaf = CertManager.Issue(_intermediate, "CN=payments", now.AddMinutes(-5), now.AddDays(1), ca: false, spiffeId: "spiffe://mtls-aspire.local/ns/production/sa/payments");
        CertManager.WriteSecret(RootSecret, _root, [], _root);
        CertManager.WriteSecret(IntermediateSecret, _intermediate, [_root], _root);
        File.WriteAllText(RevokedFile, $"""
            # revoked by the on-call, see the runbook
            {SerialAsOpensslPrintsIt(_revokedLeaf)} keyCompromise 2026-01-31T12:00:00Z

            """);
    }

    private const string TrustDomain = "mtls-aspire.local";

    private string RootSecret => Path.Combine(_directory, "secrets", "mtls-root-ca");

    private string IntermediateSecret => Path.Combine(_directory, "secrets", "mtls-intermediate-ca");

    private string RevokedFile => Path.Combine(_directory, "revoked.txt");

    private string Out => Path.Combine(_directory, "out");

    public void Dispose()
    {
        foreach (var certificate in new[] { _root, _intermediate, _revokedLeaf, _goodLeaf })
        {
            certificate.Dispose();
        }

        TempDirectory.Delete(_directory);
    }

    [Fact]
    public async Task The_revoked_leaf_is_refused_by_openssl_as_revoked_and_the_other_leaf_verifies()
    {
        var (exit, output, error) = await Publish();

        Assert.True(exit == 0, output + error);
        var revoked = Verify(_revokedLeaf);
        Assert.NotEqual(0, revoked.ExitCode);
        Assert.Contains("certificate revoked", revoked.Output, StringComparison.Ordinal);
        var good = Verify(_goodLeaf);
        Assert.True(good.ExitCode == 0, good.Output);
        Assert.Contains(": OK", good.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_root_crl_and_the_intermediate_crl_each_verify_with_openssl_against_their_issuer()
    {
        Assert.Equal(0, (await Publish()).Exit);

        var blocks = Pem.ReadBlocks(await File.ReadAllTextAsync(Path.Combine(Out, "crl.pem")), "X509 CRL");
        Assert.Equal(2, blocks.Count);
        foreach (var (der, issuer) in blocks.Zip([_root, _intermediate]))
        {
            var crlFile = Write($"{Guid.NewGuid():N}.crl.pem", PemEncoding.WriteString("X509 CRL", der));
            var (exit, output) = OpenSsl.Run("crl", "-in", crlFile, "-CAfile", Write($"{Guid.NewGuid():N}.pem", Pem.Certificates([issuer])), "-noout");
            Assert.True(exit == 0, output);
            Assert.Contains("verify OK", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Each_crl_lists_every_revoked_serial_with_its_reason_time_and_the_authority_key_identifier()
    {
        Assert.Equal(0, (await Publish()).Exit);

        var (rootCrl, intermediateCrl) = ReadCrls();
        foreach (var (crl, issuer) in new[] { (rootCrl, _root), (intermediateCrl, _intermediate) })
        {
            var entry = Assert.Single(crl.Entries);
            Assert.Equal(_revokedLeaf.GetSerial(), entry.Serial);
            Assert.Equal(X509RevocationReason.KeyCompromise, entry.Reason);
            Assert.Equal(DateTimeOffset.Parse("2026-01-31T12:00:00Z", CultureInfo.InvariantCulture), entry.RevokedAt);
            Assert.Equal(issuer.GetSubjectKeyIdentifier(), crl.AuthorityKeyIdentifier);
            Assert.True(crl.IsFor(issuer));
        }
    }

    [Fact]
    public async Task Ca_secrets_mounted_behind_kubernetes_data_symlinks_are_read_through_them()
    {
        var mounted = Path.Combine(_directory, "mounted", "mtls-intermediate-ca");
        CertManager.WriteSecret(mounted, _intermediate, [_root], _root, mountedAt: _time.GetUtcNow());
        Assert.NotNull(new FileInfo(Path.Combine(mounted, "tls.crt")).LinkTarget);
        Assert.NotNull(new FileInfo(Path.Combine(mounted, "tls.key")).LinkTarget);

        var (exit, output, error) = await Run("publish-cluster", "--ca", mounted, "--revoked", RevokedFile, "--root", mounted,
            "--namespace", "shop", "--out", Out);

        Assert.True(exit == 0, output + error);
        Assert.Contains($"CRL #{_time.GetUtcNow().ToUnixTimeSeconds()} of {_intermediate.Subject}: 1 revoked", output, StringComparison.Ordinal);
        Assert.Contains($"Bundle root {_root.Subject}", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_crl_number_is_the_unix_time_and_is_greater_on_a_later_run()
    {
        Assert.Equal(0, (await Publish()).Exit);
        var first = ReadCrls().Intermediate.Number;

        _time.Advance(TimeSpan.FromMinutes(30));
        Assert.Equal(0, (await Publish()).Exit);
        var second = ReadCrls().Intermediate.Number;

        Assert.Equal(_time.GetUtcNow().ToUnixTimeSeconds() - 1800, first);
        Assert.Equal(_time.GetUtcNow().ToUnixTimeSeconds(), second);
        Assert.True(second > first);
    }

    [Fact]
    public async Task Next_update_honours_validity_and_this_update_allows_five_minutes_of_clock_skew()
    {
        var now = _time.GetUtcNow();
        Assert.Equal(0, (await Publish("--validity", "90m")).Exit);

        var (rootCrl, intermediateCrl) = ReadCrls();
        foreach (var crl in new[] { rootCrl, intermediateCrl })
        {
            Assert.Equal(now.AddMinutes(90), crl.NextUpdate);
            Assert.Equal(now.AddMinutes(-5), crl.ThisUpdate);
        }

        Assert.Equal(0, (await Publish()).Exit);
        Assert.Equal(now.AddHours(1), ReadCrls().Intermediate.NextUpdate);
    }

    [Fact]
    public async Task Configmaps_json_is_a_list_of_both_configmaps_with_names_namespace_labels_and_the_files_text()
    {
        Assert.Equal(0, (await Publish("--crl-configmap", "shop-crl", "--bundle-configmap", "shop-bundle")).Exit);

        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Out, "configmaps.json")));
        var list = document.RootElement;
        Assert.Equal("v1", list.GetProperty("apiVersion").GetString());
        Assert.Equal("List", list.GetProperty("kind").GetString());
        var items = list.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(2, items.Count);
        foreach (var (item, name, key) in new[] { (items[0], "shop-crl", "crl.pem"), (items[1], "shop-bundle", "ca.crt") })
        {
            Assert.Equal("v1", item.GetProperty("apiVersion").GetString());
            Assert.Equal("ConfigMap", item.GetProperty("kind").GetString());
            var metadata = item.GetProperty("metadata");
            Assert.Equal(name, metadata.GetProperty("name").GetString());
            Assert.Equal("shop", metadata.GetProperty("namespace").GetString());
            Assert.Equal("mtls-aspire", metadata.GetProperty("labels").GetProperty("app.kubernetes.io/part-of").GetString());
            Assert.Equal("mtls-ca-publisher", metadata.GetProperty("labels").GetProperty("app.kubernetes.io/managed-by").GetString());
            var data = item.GetProperty("data");
            Assert.Equal([key], data.EnumerateObject().Select(p => p.Name));
            Assert.Equal(await File.ReadAllTextAsync(Path.Combine(Out, key)), data.GetProperty(key).GetString());
        }
    }

    [Fact]
    public async Task Without_roots_only_the_crl_configmap_is_written()
    {
        var (exit, _, _) = await Run("publish-cluster", "--ca", IntermediateSecret, "--revoked", RevokedFile, "--namespace", "shop", "--out", Out);

        Assert.Equal(0, exit);
        Assert.False(File.Exists(Path.Combine(Out, "ca.crt")));
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Out, "configmaps.json")));
        var item = Assert.Single(document.RootElement.GetProperty("items").EnumerateArray());
        Assert.Equal("mtls-crl", item.GetProperty("metadata").GetProperty("name").GetString());
    }

    [Fact]
    public async Task Output_files_are_public_and_hold_no_key_material()
    {
        var (exit, output, error) = await Publish();

        Assert.Equal(0, exit);
        Assert.Equal(["ca.crt", "configmaps.json", "crl.pem"], Directory.GetFiles(Out).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var file in Directory.GetFiles(Out))
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(file));
            Assert.DoesNotContain("PRIVATE KEY", await File.ReadAllTextAsync(file), StringComparison.Ordinal);
        }

        Assert.DoesNotContain("PRIVATE KEY", output + error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_bundle_holds_the_root_once_however_often_it_is_given_and_the_extra_roots_in_notbefore_order()
    {
        var now = _time.GetUtcNow();
        using var nextRoot = CertManager.SelfSignedCa("CN=Next Cluster Root CA, O=MtlsAspire Tests", now, now.AddYears(10));
        using var oldRoot = CertManager.SelfSignedCa("CN=Old Cluster Root CA, O=MtlsAspire Tests", now.AddYears(-2), now.AddYears(8));
        var extraRoots = Write("extra-roots.pem", Pem.Certificates([nextRoot, _root, oldRoot]));

        // The root three times: its own Secret twice, and the intermediate's ca.crt.
        var (exit, output, error) = await Run("publish-cluster", "--ca", IntermediateSecret, "--revoked", RevokedFile, "--root", RootSecret, "--root", RootSecret,
            "--root", IntermediateSecret, "--extra-roots", extraRoots, "--trust-domain", TrustDomain, "--allow-extra-roots-for-trust-domain", "--namespace", "shop", "--out", Out);

        Assert.True(exit == 0, output + error);
        var bundle = Pem.ReadCertificates(await File.ReadAllTextAsync(Path.Combine(Out, "ca.crt")), "ca.crt");
        Assert.Equal([oldRoot.Thumbprint, _root.Thumbprint, nextRoot.Thumbprint], bundle.Select(c => c.Thumbprint));
        Assert.Equal(3, output.Split('\n').Count(line => line.StartsWith("Bundle root ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task An_extra_root_that_would_vouch_for_our_trust_domain_is_left_out_of_the_bundle_outside_a_root_rotation_and_the_log_says_why()
    {
        var now = _time.GetUtcNow();
        using var unmarked = CertManager.SelfSignedCa("CN=Stray Root CA, O=Someone", now, now.AddYears(1));
        using var markedOurs = CertManager.SelfSignedCa("CN=Forged Root CA, O=Someone", now, now.AddYears(1), TrustDomain);
        using var partner = CertManager.SelfSignedCa("CN=Partner Root CA, O=Partner", now, now.AddYears(1), "partner.example");
        var extraRoots = Write("extra-roots.pem", Pem.Certificates([unmarked, markedOurs, partner]));

        var (exit, output, error) = await Publish("--extra-roots", extraRoots, "--trust-domain", TrustDomain);

        Assert.True(exit == 0, output + error);
        var bundle = Pem.ReadCertificates(await File.ReadAllTextAsync(Path.Combine(Out, "ca.crt")), "ca.crt");
        Assert.Equal([_root.Thumbprint, partner.Thumbprint], bundle.Select(c => c.Thumbprint)); // another trust domain's root vouches only for it
        Assert.Contains($"the extra root '{unmarked.Subject}'", error, StringComparison.Ordinal);
        Assert.Contains("is left out of the bundle: it is unmarked", error, StringComparison.Ordinal);
        Assert.Contains($"the extra root '{markedOurs.Subject}'", error, StringComparison.Ordinal);
        Assert.Contains($"it is marked spiffe://{TrustDomain}", error, StringComparison.Ordinal);
        Assert.Contains("--allow-extra-roots-for-trust-domain", error, StringComparison.Ordinal);
        Assert.DoesNotContain(partner.Subject, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task During_a_root_rotation_or_with_the_setting_an_unmarked_extra_root_enters_the_bundle()
    {
        var now = _time.GetUtcNow();
        using var unmarked = CertManager.SelfSignedCa("CN=Old External Root CA, O=MtlsAspire Tests", now.AddDays(-2), now.AddYears(1));
        using var nextRoot = CertManager.SelfSignedCa("CN=Next Cluster Root CA, O=MtlsAspire Tests", now, now.AddYears(10), TrustDomain);
        var nextRootSecret = Path.Combine(_directory, "secrets", "mtls-root-ca-2");
        CertManager.WriteSecret(nextRootSecret, nextRoot, [], nextRoot);
        var extraRoots = Write("extra-roots.pem", Pem.Certificates([unmarked]));

        // Two roots given: the publisher is in the middle of a root rotation (Roots 1,2 in the manifests).
        var rotating = await Publish("--root", nextRootSecret, "--extra-roots", extraRoots, "--trust-domain", TrustDomain);
        Assert.True(rotating.Exit == 0, rotating.Output + rotating.Error);
        Assert.Contains(unmarked.Thumbprint, Pem.ReadCertificates(await File.ReadAllTextAsync(Path.Combine(Out, "ca.crt")), "ca.crt").Select(c => c.Thumbprint));
        Assert.DoesNotContain("left out", rotating.Error, StringComparison.Ordinal);

        var allowed = await Publish("--extra-roots", extraRoots, "--trust-domain", TrustDomain, "--allow-extra-roots-for-trust-domain");
        Assert.True(allowed.Exit == 0, allowed.Output + allowed.Error);
        Assert.Equal([unmarked.Thumbprint, _root.Thumbprint], Pem.ReadCertificates(await File.ReadAllTextAsync(Path.Combine(Out, "ca.crt")), "ca.crt").Select(c => c.Thumbprint));
    }

    [Fact]
    public async Task Extra_roots_without_the_trust_domain_are_refused_naming_the_option_and_nothing_is_written()
    {
        var now = _time.GetUtcNow();
        using var unmarked = CertManager.SelfSignedCa("CN=Stray Root CA, O=Someone", now, now.AddYears(1));

        var (exit, output, error) = await Publish("--extra-roots", Write("extra-roots.pem", Pem.Certificates([unmarked])));

        Assert.NotEqual(0, exit);
        Assert.Contains("--trust-domain", output + error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Out));
    }

    [Fact]
    public async Task A_serial_deleted_from_the_revoked_file_stays_in_every_crl_run_after_run_and_the_log_says_so()
    {
        Assert.Equal(0, (await Publish()).Exit);
        File.WriteAllText(RevokedFile, "# the line of the revoked order certificate was deleted\n");

        foreach (var run in new[] { 1, 2 }) // the second run carries it from a CRL that only carried it
        {
            var published = Write($"published-{run}.pem", await File.ReadAllTextAsync(Path.Combine(Out, "crl.pem")));
            _time.Advance(TimeSpan.FromHours(1));
            var (exit, output, error) = await Publish("--published-crl", published);

            Assert.True(exit == 0, output + error);
            var (rootCrl, intermediateCrl) = ReadCrls();
            Assert.Equal(_time.GetUtcNow().ToUnixTimeSeconds(), intermediateCrl.Number); // a new CRL, higher-numbered
            foreach (var crl in new[] { rootCrl, intermediateCrl })
            {
                var entry = Assert.Single(crl.Entries);
                Assert.Equal(_revokedLeaf.GetSerial(), entry.Serial);
                Assert.Equal(X509RevocationReason.KeyCompromise, entry.Reason);
                Assert.Equal(DateTimeOffset.Parse("2026-01-31T12:00:00Z", CultureInfo.InvariantCulture), entry.RevokedAt);
            }

            Assert.Contains($"no longer lists serial {_revokedLeaf.SerialNumber.TrimStart('0')}", error, StringComparison.Ordinal);
            Assert.Contains("stays revoked in every CRL", error, StringComparison.Ordinal);
        }

        Assert.NotEqual(0, Verify(_revokedLeaf).ExitCode); // openssl still refuses it
    }

    [Fact]
    public async Task A_forged_crl_in_the_published_file_carries_nothing_forward_and_is_named_in_the_log()
    {
        var now = _time.GetUtcNow();
        using var impostor = CertManager.SelfSignedCa(_intermediate.Subject, now.AddDays(-1), now.AddYears(1)); // our CA's name, another key
        var forged = RevocationListSigner.Sign(impostor, now.ToUnixTimeSeconds(), [new RevokedCertificate(_goodLeaf.GetSerial(), now, null)], now, now.AddHours(1));
        var published = Write("published.pem", PemEncoding.WriteString("X509 CRL", forged));

        var (exit, output, error) = await Publish("--published-crl", published);

        Assert.True(exit == 0, output + error);
        Assert.Equal(_revokedLeaf.GetSerial(), Assert.Single(ReadCrls().Intermediate.Entries).Serial);
        Assert.Contains("a CRL published before is ignored", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_extra_roots_file_means_no_extra_roots()
    {
        var (exit, output, error) = await Publish("--extra-roots", Path.Combine(_directory, "no-such-configmap", "ca.crt"));

        Assert.True(exit == 0, output + error);
        var bundle = Pem.ReadCertificates(await File.ReadAllTextAsync(Path.Combine(Out, "ca.crt")), "ca.crt");
        Assert.Equal(_root.Thumbprint, Assert.Single(bundle).Thumbprint);
    }

    [Fact]
    public async Task An_appended_root_crl_follows_the_signed_ones_verbatim_and_a_close_next_update_is_a_warning()
    {
        // The root's CRL, signed offline, with its next update 12 hours away.
        var now = _time.GetUtcNow();
        var rootCrl = "# root CRL, signed offline\n" + PemEncoding.WriteString("X509 CRL",
            new CertificateRevocationListBuilder().Build(_root, 7, now.AddHours(12), HashAlgorithmName.SHA256, thisUpdate: now.AddMinutes(-5))) + "\n";
        var appended = Write("root-crl.pem", rootCrl);

        var (exit, output, error) = await Run("publish-cluster", "--ca", IntermediateSecret, "--revoked", RevokedFile, "--append-crl", appended,
            "--root", RootSecret, "--namespace", "shop", "--out", Out);

        Assert.True(exit == 0, output + error);
        var crlPem = await File.ReadAllTextAsync(Path.Combine(Out, "crl.pem"));
        Assert.EndsWith(rootCrl, crlPem, StringComparison.Ordinal);
        Assert.StartsWith("-----BEGIN X509 CRL-----", crlPem, StringComparison.Ordinal);
        Assert.Contains($"CRL #7 of {_root.Subject}: 0 revoked", output, StringComparison.Ordinal);
        var warning = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("warning: ", warning, StringComparison.Ordinal);
        Assert.Contains("within 24 h", warning, StringComparison.Ordinal);
        Assert.Equal(0, Verify(_goodLeaf).ExitCode); // the root's CRL (appended) and the intermediate's (signed) are both there
        Assert.Contains("certificate revoked", Verify(_revokedLeaf).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_revoked_file_still_gives_each_ca_an_empty_crl()
    {
        var empty = Write("empty.txt", "# nothing revoked yet\n\n");

        var (exit, output, error) = await Run("publish-cluster", "--ca", RootSecret, "--ca", IntermediateSecret, "--revoked", empty, "--namespace", "shop", "--out", Out);

        Assert.True(exit == 0, output + error);
        var (rootCrl, intermediateCrl) = ReadCrls();
        Assert.Empty(rootCrl.Entries);
        Assert.Empty(intermediateCrl.Entries);
        Assert.Equal(0, Verify(_revokedLeaf).ExitCode);
    }

    [Fact]
    public async Task Sec1_and_pkcs1_ca_keys_are_accepted()
    {
        var now = _time.GetUtcNow();
        using var rsaKey = RSA.Create(2048);
        var request = new CertificateRequest("CN=RSA Cluster Root CA", rsaKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        CertManager.AddCaExtensions(request);
        using var rsaRoot = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));
        var rsaSecret = Path.Combine(_directory, "secrets", "rsa-root-ca");
        CertManager.WriteSecret(rsaSecret, rsaRoot, [], rsaRoot, keyPem: rsaKey.ExportRSAPrivateKeyPem());
        var sec1Secret = Path.Combine(_directory, "secrets", "sec1-intermediate-ca");
        CertManager.WriteSecret(sec1Secret, _intermediate, [_root], _root, keyPem: _intermediate.GetECDsaPrivateKey()!.ExportECPrivateKeyPem());
        Assert.Equal("RSA PRIVATE KEY", PemLabel(await File.ReadAllTextAsync(Path.Combine(rsaSecret, "tls.key")))); // PKCS#1
        Assert.Equal("EC PRIVATE KEY", PemLabel(await File.ReadAllTextAsync(Path.Combine(sec1Secret, "tls.key")))); // SEC1

        var (exit, output, error) = await Run("publish-cluster", "--ca", rsaSecret, "--ca", sec1Secret, "--revoked", RevokedFile, "--namespace", "shop", "--out", Out);

        Assert.True(exit == 0, output + error);
        var blocks = Pem.ReadBlocks(await File.ReadAllTextAsync(Path.Combine(Out, "crl.pem")), "X509 CRL");
        Assert.Equal(2, blocks.Count);
        RevocationList.Load(blocks[0], rsaRoot);
        RevocationList.Load(blocks[1], _intermediate);
    }

    [Fact]
    public void Revoked_lines_take_colons_any_case_an_optional_reason_and_an_optional_time()
    {
        var now = _time.GetUtcNow();
        var entries = RevokedSerialsFile.Parse(
        [
            "0a:1B:2c",
            "  0x3d4e   superseded   # renewed",
            "5F6A CACompromise 2026-02-01T08:30:00Z",
            "7b 2026-02-01T08:30:00.250Z",
            "8C unspecified",
        ], "revoked", now);

        Assert.Equal([new BigInteger(0x0A1B2C), new BigInteger(0x3D4E), new BigInteger(0x5F6A), new BigInteger(0x7B), new BigInteger(0x8C)], entries.Select(e => e.Serial));
        Assert.Equal([null, X509RevocationReason.Superseded, X509RevocationReason.CACompromise, null, null], entries.Select(e => e.Reason));
        var at = new DateTimeOffset(2026, 2, 1, 8, 30, 0, TimeSpan.Zero);
        Assert.Equal([now, now, at, at.AddMilliseconds(250), now], entries.Select(e => e.RevokedAt));
    }

    [Theory]
    [InlineData("not-hex", "is not a hexadecimal serial number")]
    [InlineData("0A1B keyCompromized", "is neither a revocation reason")]
    [InlineData("0A1B removeFromCRL", "is neither a revocation reason")]
    [InlineData("0A1B keyCompromise 2026-02-01T08:30:00+02:00", "is neither a revocation reason")]
    [InlineData("0A1B 2026-02-01T08:30:00Z keyCompromise", "the reason comes first")]
    [InlineData("0A1B keyCompromise 2026-02-01T08:30:00Z extra", "4 fields")]
    [InlineData("01:23 superseded", "already listed on line 2")]
    public async Task A_malformed_revoked_line_is_refused_with_its_line_number_and_nothing_is_written(string line, string why)
    {
        var revoked = Write("bad-revoked.txt", $"# header\n0123\n\n{line}\n");

        var (exit, output, error) = await PublishWithRevoked(revoked);

        AssertRefusedWithNothingWritten(exit, output, error, $"{revoked} line 4: ", why);
    }

    [Fact]
    public async Task A_missing_revoked_file_is_an_error_not_an_empty_list()
    {
        var missing = Path.Combine(_directory, "no-such-revoked.txt");

        var (exit, output, error) = await PublishWithRevoked(missing);

        AssertRefusedWithNothingWritten(exit, output, error, missing, "does not exist");
    }

    [Fact]
    public async Task A_leaf_given_as_a_ca_is_refused_naming_its_file_and_nothing_is_written()
    {
        var leafSecret = Path.Combine(_directory, "secrets", "order-tls");
        CertManager.WriteSecret(leafSecret, _goodLeaf, [_intermediate], _root);

        var (exit, output, error) = await Run("publish-cluster", "--ca", IntermediateSecret, "--ca", leafSecret, "--revoked", RevokedFile,
            "--root", RootSecret, "--namespace", "shop", "--out", Out);

        AssertRefusedWithNothingWritten(exit, output, error, Path.Combine(leafSecret, "tls.crt"), "is not a CA");
    }

    [Fact]
    public async Task A_ca_without_the_crl_sign_usage_is_refused_saying_what_to_add_to_the_certificate()
    {
        // What cert-manager issues for isCA: true when spec.usages does not list 'crl sign'.
        var now = _time.GetUtcNow();
        using var noCrlSign = CertManager.Issue(_root, "CN=No CRL Sign CA", now, now.AddYears(1), ca: true,
            usages: X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.KeyCertSign);
        var secret = Path.Combine(_directory, "secrets", "no-crl-sign-ca");
        CertManager.WriteSecret(secret, noCrlSign, [_root], _root);

        var (exit, output, error) = await Run("publish-cluster", "--ca", secret, "--revoked", RevokedFile, "--namespace", "shop", "--out", Out);

        AssertRefusedWithNothingWritten(exit, output, error, Path.Combine(secret, "tls.crt"), "'crl sign'");
    }

    [Fact]
    public async Task A_key_that_does_not_match_the_ca_is_refused_naming_the_key_file_and_nothing_is_written()
    {
        var mismatched = Path.Combine(_directory, "secrets", "mismatched-ca");
        CertManager.WriteSecret(mismatched, _intermediate, [_root], _root, keyPem: _root.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());

        var (exit, output, error) = await Run("publish-cluster", "--ca", RootSecret, "--ca", mismatched, "--revoked", RevokedFile, "--namespace", "shop", "--out", Out);

        AssertRefusedWithNothingWritten(exit, output, error, Path.Combine(mismatched, "tls.key"), "does not match");
    }

    [Fact]
    public async Task A_root_directory_whose_certificate_is_not_self_signed_is_refused()
    {
        var noBundle = Path.Combine(_directory, "secrets", "intermediate-without-ca-crt");
        CertManager.WriteSecret(noBundle, _intermediate, [_root], bundle: null);

        var (exit, output, error) = await Run("publish-cluster", "--ca", IntermediateSecret, "--revoked", RevokedFile, "--root", noBundle, "--namespace", "shop", "--out", Out);

        AssertRefusedWithNothingWritten(exit, output, error, Path.Combine(noBundle, "tls.crt"), "is not a self-signed root CA");
    }

    [Theory]
    [InlineData("-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n", "malformed")]
    [InlineData("just some text\n", "no PEM 'X509 CRL' block")]
    [InlineData("", "holds no CRL")]
    public async Task A_malformed_appended_crl_is_refused_and_nothing_is_written(string text, string why)
    {
        var bad = Write("bad-crl.pem", text);

        var (exit, output, error) = await Publish("--append-crl", bad);

        AssertRefusedWithNothingWritten(exit, output, error, bad, why);
    }

    [Fact]
    public async Task A_missing_appended_crl_or_one_holding_a_key_is_refused()
    {
        var missing = Path.Combine(_directory, "no-such-crl.pem");
        var (exit, output, error) = await Publish("--append-crl", missing);
        AssertRefusedWithNothingWritten(exit, output, error, missing, "does not exist");

        var withKey = Write("crl-and-key.pem", _root.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        (exit, output, error) = await Publish("--append-crl", withKey);
        AssertRefusedWithNothingWritten(exit, output, error, withKey, "only 'X509 CRL' blocks");
    }

    [Fact]
    public async Task A_failed_run_leaves_the_previous_output_as_it_was()
    {
        Assert.Equal(0, (await Publish()).Exit);
        var before = Directory.GetFiles(Out).ToDictionary(f => f, File.ReadAllText);

        _time.Advance(TimeSpan.FromMinutes(10));
        var (exit, _, _) = await PublishWithRevoked(Write("bad.txt", "zz\n"));

        Assert.Equal(CertBootstrapCli.Failed, exit);
        Assert.Equal(before, Directory.GetFiles(Out).ToDictionary(f => f, File.ReadAllText));
    }

    [Theory]
    [InlineData("--namespace", "Shop", "Invalid namespace name 'Shop'")]
    [InlineData("--crl-configmap", "mtls_crl", "Invalid CRL ConfigMap name 'mtls_crl'")]
    [InlineData("--validity", "soon", "'soon' is not a duration")]
    public async Task A_bad_name_or_duration_is_refused_naming_the_value(string option, string value, string why)
    {
        string[] args = ["publish-cluster", "--ca", IntermediateSecret, "--revoked", RevokedFile, "--out", Out, option, value];
        var (exit, output, error) = await Run(option == "--namespace" ? args : [.. args, "--namespace", "shop"]);

        AssertRefusedWithNothingWritten(exit, output, error, why, why);
    }

    private void AssertRefusedWithNothingWritten(int exit, string output, string error, string names, string why)
    {
        Assert.Equal(CertBootstrapCli.Failed, exit);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.Contains(names, line, StringComparison.Ordinal);
        Assert.Contains(why, line, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Out), "nothing may be written when an input fails");
        Assert.DoesNotContain("PRIVATE KEY", output + error, StringComparison.Ordinal);
    }

    /// <summary>publish-cluster with both CAs, the root in the bundle, and <paramref name="extra"/>.</summary>
    private Task<(int Exit, string Output, string Error)> Publish(params string[] extra) => PublishWithRevoked(RevokedFile, extra);

    private Task<(int Exit, string Output, string Error)> PublishWithRevoked(string revokedFile, params string[] extra) =>
        Run(["publish-cluster", "--ca", RootSecret, "--ca", IntermediateSecret, "--revoked", revokedFile, "--root", RootSecret,
            "--namespace", "shop", "--out", Out, .. extra]);

    private async Task<(int Exit, string Output, string Error)> Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await CertBootstrapCli.RunAsync(args, output, error, _time);
        return (exit, output.ToString(), error.ToString());
    }

    private (RevocationList Root, RevocationList Intermediate) ReadCrls()
    {
        var blocks = Pem.ReadBlocks(File.ReadAllText(Path.Combine(Out, "crl.pem")), "X509 CRL");
        return (RevocationList.Load(blocks[0], _root), RevocationList.Load(blocks[1], _intermediate));
    }

    private (int ExitCode, string Output) Verify(X509Certificate2 leaf) =>
        OpenSsl.Run("verify", "-x509_strict", "-crl_check_all", "-CAfile", Write("root.pem", Pem.Certificates([_root])),
            "-untrusted", Write("intermediate.pem", Pem.Certificates([_intermediate])), "-CRLfile", Path.Combine(Out, "crl.pem"),
            Write($"{leaf.SerialNumber}.pem", Pem.Certificates([leaf])));

    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>"8f:12:…": lowercase, colon-separated, without the DER sign byte, as people paste serials.</summary>
    private static string SerialAsOpensslPrintsIt(X509Certificate2 certificate) =>
        string.Join(':', certificate.GetSerial().ToByteArray(isUnsigned: true, isBigEndian: true).Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));

    /// <summary>Certificates and Secrets as cert-manager's self-signed and CA issuers make them.</summary>
    private static class CertManager
    {
        /// <summary>A self-signed root; with <paramref name="trustDomain"/>, marked as that trust domain's (URI SAN spiffe://{trust-domain}).</summary>
        public static X509Certificate2 SelfSignedCa(string subject, DateTimeOffset notBefore, DateTimeOffset notAfter, string? trustDomain = null)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
            AddCaExtensions(request);
            if (trustDomain is not null)
            {
                request.CertificateExtensions.Add(TrustDomainBinding.MarkerExtension(trustDomain));
            }

            return request.CreateSelfSigned(notBefore, notAfter);
        }

        public static void AddCaExtensions(CertificateRequest request, X509KeyUsageFlags usages = X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign)
        {
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(usages, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        }

        public static X509Certificate2 Issue(X509Certificate2 issuer, string subject, DateTimeOffset notBefore, DateTimeOffset notAfter, bool ca,
            string? spiffeId = null, byte[]? serial = null, X509KeyUsageFlags? usages = null)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
            if (ca)
            {
                AddCaExtensions(request, usages ?? X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign);
            }
            else
            {
                request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForEndEntity(critical: true));
                request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
                request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection().AddAll([CertificateFacts.ServerAuthOid, CertificateFacts.ClientAuthOid]), false));
                var san = new SubjectAlternativeNameBuilder();
                san.AddUri(new Uri(spiffeId!));
                request.CertificateExtensions.Add(san.Build());
                request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            }

            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
            using var certificate = request.Create(issuer, notBefore, notAfter, serial ?? [0x01, .. RandomNumberGenerator.GetBytes(15)]);
            return certificate.CopyWithPrivateKey(key);
        }

        /// <summary>
        /// A kubernetes.io/tls Secret as a mounted directory: tls.crt (the certificate, then its chain), tls.key (PKCS#8
        /// unless told otherwise), ca.crt; as plain files, or (<paramref name="mountedAt"/> given) behind <c>..data</c> symlinks
        /// as a Kubernetes volume mounts them.
        /// </summary>
        public static void WriteSecret(string directory, X509Certificate2 certificate, X509Certificate2[] chain, X509Certificate2? bundle,
            string? keyPem = null, DateTimeOffset? mountedAt = null)
        {
            keyPem ??= (certificate.GetECDsaPrivateKey() as AsymmetricAlgorithm ?? certificate.GetRSAPrivateKey()!).ExportPkcs8PrivateKeyPem();
            var files = new CredentialFiles(Pem.Certificates([certificate, .. chain]), keyPem + "\n", bundle is null ? "" : Pem.Certificates([bundle]), "");
            if (mountedAt is { } at)
            {
                new CredentialDirectory(directory).Publish(files, at);
                return;
            }

            Directory.CreateDirectory(directory);
            File.WriteAllText(Path.Combine(directory, "tls.crt"), files.CertificatePem);
            File.WriteAllText(Path.Combine(directory, "tls.key"), files.KeyPem);
            if (bundle is not null)
            {
                File.WriteAllText(Path.Combine(directory, "ca.crt"), files.BundlePem);
            }
        }
    }

    private static string PemLabel(string pem) => pem[System.Security.Cryptography.PemEncoding.Find(pem).Label];
}
