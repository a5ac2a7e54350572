using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Tests;

public class IssuanceTests
{
    private static X509Certificate2 Root(TestPki pki) =>
        Pem.ReadCertificates(File.ReadAllText(Path.Combine(pki.PkiDirectory, "ca.crt")), "ca.crt").Single();

    private static X509Certificate2 Intermediate(TestPki pki) =>
        Pem.ReadCertificates(File.ReadAllText(PkiLayout.CertificateIn(pki.Authority.Layout.IntermediateDirectory(pki.Init.Intermediate.Serial))), "int").Single();

    [Fact]
    public void The_root_is_a_self_signed_long_lived_ca_whose_key_is_encrypted_at_rest()
    {
        using var pki = new TestPki();
        var root = Root(pki);

        Assert.Equal(root.SubjectName.RawData, root.IssuerName.RawData);
        var constraints = root.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        Assert.True(constraints.Critical);
        Assert.True(constraints.CertificateAuthority);
        var usage = root.Extensions.OfType<X509KeyUsageExtension>().Single();
        Assert.True(usage.Critical);
        Assert.Equal(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, usage.KeyUsages);
        Assert.InRange((root.NotAfter - root.NotBefore).TotalDays, 3649, 3651);

        var rootDirectory = pki.Authority.Layout.RootDirectory(pki.Init.Root.Serial);
        var keyText = File.ReadAllText(PkiLayout.KeyIn(rootDirectory));
        Assert.StartsWith("-----BEGIN ENCRYPTED " + "PRIVATE KEY-----", keyText, StringComparison.Ordinal); // split: no key-like literal in the repository
        using var key = ECDsa.Create();
        Assert.ThrowsAny<CryptographicException>(() => key.ImportFromEncryptedPem(keyText, "wrong"));
        key.ImportFromEncryptedPem(keyText, TestPki.Passphrase);
        Assert.True(root.PublicKeyMatches(key));
        Assert.Equal(SecureFiles.Secret, File.GetUnixFileMode(PkiLayout.KeyIn(rootDirectory)));
        Assert.False(File.Exists(PkiLayout.PassphraseIn(rootDirectory)), "a supplied passphrase must not be written to disk");
    }

    [Fact]
    public void Every_root_names_its_trust_domain_in_a_uri_san_without_a_path_so_it_vouches_for_that_trust_domain_only()
    {
        using var pki = new TestPki();
        pki.Authority.AddRoot(); // the new root of a rotation is marked the same way

        var roots = Pem.ReadCertificates(File.ReadAllText(Path.Combine(pki.PkiDirectory, "ca.crt")), "ca.crt");

        Assert.Equal(2, roots.Count);
        Assert.All(roots, root =>
        {
            Assert.Equal(["spiffe://mtls-aspire.local"], root.GetUriNames());
            Assert.Equal(["mtls-aspire.local"], root.MarkedTrustDomains());
            Assert.True(root.VouchesFor("mtls-aspire.local"));
            Assert.False(root.VouchesFor("partner.example"));
        });
    }

    [Fact]
    public void Without_a_supplied_passphrase_init_generates_one_into_a_private_file_beside_the_key()
    {
        using var pki = new TestPki(passphrase: PassphraseSource.Local);
        var rootDirectory = pki.Authority.Layout.RootDirectory(pki.Init.Root.Serial);
        var passphraseFile = PkiLayout.PassphraseIn(rootDirectory);

        Assert.Equal(passphraseFile, pki.Init.GeneratedPassphraseFile);
        Assert.Equal(SecureFiles.Secret, File.GetUnixFileMode(passphraseFile));
        var passphrase = File.ReadAllText(passphraseFile).Trim();
        Assert.True(passphrase.Length >= 40);
        using var key = ECDsa.Create();
        key.ImportFromEncryptedPem(File.ReadAllText(PkiLayout.KeyIn(rootDirectory)), passphrase);

        // Later commands find it without being told.
        var (rotated, _) = pki.Reopen(PassphraseSource.Local).RotateIntermediate();
        Assert.Equal(pki.Init.Root.Serial, rotated.IssuerSerial);
    }

    [Fact]
    public void The_intermediate_is_a_pathlen_zero_ca_signed_by_the_root()
    {
        using var pki = new TestPki();
        var root = Root(pki);
        var intermediate = Intermediate(pki);

        var constraints = intermediate.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        Assert.True(constraints.Critical);
        Assert.True(constraints.CertificateAuthority);
        Assert.True(constraints.HasPathLengthConstraint);
        Assert.Equal(0, constraints.PathLengthConstraint);
        Assert.Equal(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, intermediate.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages);
        Assert.Equal(root.SubjectName.RawData, intermediate.IssuerName.RawData);
        Assert.InRange((intermediate.NotAfter - intermediate.NotBefore).TotalDays, 364, 366);
        var aki = intermediate.Extensions.OfType<X509AuthorityKeyIdentifierExtension>().Single();
        Assert.Equal(root.GetSubjectKeyIdentifier(), aki.KeyIdentifier!.Value.ToArray());
        Assert.Equal(SecureFiles.Secret, File.GetUnixFileMode(PkiLayout.KeyIn(pki.Authority.Layout.IntermediateDirectory(pki.Init.Intermediate.Serial))));
    }

    [Fact]
    public void A_leaf_carries_exactly_the_properties_of_a_spiffe_svid()
    {
        using var pki = new TestPki();
        var issued = pki.Authority.Issue(new LeafRequest("order") { DnsNames = ["localhost", "order"], IPAddresses = [IPAddress.Loopback, IPAddress.IPv6Loopback] });
        using var credentials = ServiceCredentials.Load(new CredentialDirectory(issued.Directory));
        var leaf = credentials.Leaf;
        var now = pki.Time.GetUtcNow();

        Assert.Equal(["spiffe://mtls-aspire.local/ns/development/sa/order"], leaf.GetUriNames());
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/order", credentials.SpiffeId.ToString());
        Assert.Equal(["localhost", "order"], leaf.GetDnsNames());
        Assert.Equal([IPAddress.Loopback, IPAddress.IPv6Loopback], leaf.GetIPAddresses());

        var constraints = leaf.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        Assert.False(constraints.CertificateAuthority);
        var usage = leaf.Extensions.OfType<X509KeyUsageExtension>().Single();
        Assert.True(usage.Critical);
        Assert.Equal(X509KeyUsageFlags.DigitalSignature, usage.KeyUsages);
        Assert.Equal([CertificateFacts.ServerAuthOid, CertificateFacts.ClientAuthOid], leaf.GetExtendedKeyUsages());
        Assert.NotNull(leaf.GetSubjectKeyIdentifier());
        Assert.Equal(Intermediate(pki).GetSubjectKeyIdentifier(),
            leaf.Extensions.OfType<X509AuthorityKeyIdentifierExtension>().Single().KeyIdentifier!.Value.ToArray());

        // Serial: positive, at least 64 bits of entropy (we use 16 bytes, top bit clear, no leading zero byte).
        var serial = leaf.SerialNumberBytes.ToArray();
        Assert.Equal(16, serial.Length);
        Assert.True(serial[0] is > 0 and < 0x80);

        // Validity: back-dated by the 5-minute skew allowance, 24h from issuance.
        Assert.Equal(now.AddMinutes(-5).UtcDateTime, leaf.NotBefore.ToUniversalTime());
        Assert.Equal(now.AddHours(24).UtcDateTime, leaf.NotAfter.ToUniversalTime());
        Assert.Equal("ECDSA P-256", leaf.DescribeKey());
        Assert.Equal("CN=order, OU=development, O=MtlsAspire", leaf.Subject);
    }

    [Fact]
    public void Every_issuance_generates_a_fresh_key_and_serial()
    {
        using var pki = new TestPki();
        var first = pki.Authority.Issue(new LeafRequest("order"));
        using var firstCredentials = ServiceCredentials.Load(new CredentialDirectory(first.Directory));
        var renewed = pki.Authority.Renew("order");
        using var renewedCredentials = ServiceCredentials.Load(new CredentialDirectory(renewed.Directory));

        Assert.NotEqual(first.Entry.Serial, renewed.Entry.Serial);
        Assert.NotEqual(firstCredentials.Leaf.PublicKey.EncodedKeyValue.RawData, renewedCredentials.Leaf.PublicKey.EncodedKeyValue.RawData);
        Assert.Equal(first.Entry.DnsNames, renewed.Entry.DnsNames);
        Assert.Equal(first.Directory, renewed.Directory);
        Assert.Equal(CertificateStatus.Superseded, pki.Authority.Ledger.Find(first.Entry.Serial)!.Status);
        Assert.Equal(renewed.Entry.Serial, pki.Authority.Ledger.ActiveLeaf("order")!.Serial);
    }

    [Fact]
    public void A_leaf_never_outlives_its_issuer()
    {
        using var pki = new TestPki();
        pki.Time.Advance(TimeSpan.FromDays(365) - TimeSpan.FromHours(2));

        var issued = pki.Authority.Issue(new LeafRequest("order") { Lifetime = TimeSpan.FromHours(24) });

        Assert.True(issued.LifetimeClamped);
        Assert.Equal(pki.Init.Intermediate.NotAfter, issued.Entry.NotAfter);
    }

    [Fact]
    public void The_files_are_named_like_a_cert_manager_secret_with_private_modes()
    {
        using var pki = new TestPki();
        var issued = pki.Authority.Issue(new LeafRequest("payment"));
        var directory = issued.Directory;

        Assert.Equal(Path.Combine(pki.PkiDirectory, "services", "payment"), directory);
        var chain = Pem.ReadCertificates(File.ReadAllText(Path.Combine(directory, "tls.crt")), "tls.crt");
        Assert.Equal(2, chain.Count);
        Assert.Equal(issued.Entry.Serial, chain[0].SerialNumber);
        Assert.Equal(Intermediate(pki).Thumbprint, chain[1].Thumbprint);
        Assert.StartsWith("-----BEGIN " + "PRIVATE KEY-----", File.ReadAllText(Path.Combine(directory, "tls.key")), StringComparison.Ordinal);
        Assert.Equal(Root(pki).Thumbprint, Pem.ReadCertificates(File.ReadAllText(Path.Combine(directory, "ca.crt")), "ca.crt").Single().Thumbprint);
        Assert.NotEmpty(Pem.ReadBlocks(File.ReadAllText(Path.Combine(directory, "crl.pem")), "X509 CRL"));

        var generation = new CredentialDirectory(directory).ResolveCurrentGeneration();
        Assert.Equal(SecureFiles.Secret, File.GetUnixFileMode(Path.Combine(generation, "tls.key")));
        Assert.Equal(SecureFiles.PrivateDirectory, File.GetUnixFileMode(generation));
        Assert.Equal(SecureFiles.PrivateDirectory, File.GetUnixFileMode(directory));
        Assert.Equal(SecureFiles.PrivateDirectory, File.GetUnixFileMode(pki.PkiDirectory));
        Assert.Equal(SecureFiles.PrivateDirectory, File.GetUnixFileMode(Path.Combine(pki.PkiDirectory, "services")));
    }

    [Theory]
    [InlineData(KeyType.EcdsaP256, KeyType.EcdsaP256)]
    [InlineData(KeyType.EcdsaP256, KeyType.Rsa2048)]
    [InlineData(KeyType.Rsa2048, KeyType.Rsa2048)]
    [InlineData(KeyType.Rsa2048, KeyType.EcdsaP256)]
    public void Chains_verify_with_dotnet_for_client_and_server_use(KeyType caKeys, KeyType leafKeys)
    {
        using var pki = new TestPki(caKeys);
        var issued = pki.Authority.Issue(new LeafRequest("inventory") { KeyType = leafKeys });
        using var credentials = ServiceCredentials.Load(new CredentialDirectory(issued.Directory));

        Assert.Equal(leafKeys, credentials.Leaf.GetKeyType());
        Assert.Equal(caKeys, Root(pki).GetKeyType());
        foreach (var usage in new[] { CertificateFacts.ClientAuthOid, CertificateFacts.ServerAuthOid })
        {
            var check = credentials.VerifyChain(pki.Time.GetUtcNow(), usage);
            Assert.True(check.IsValid, string.Join("; ", check.Problems));
            Assert.Equal(3, check.Path.Count);
            Assert.All(check.Revocation, r => Assert.Equal(RevocationStatus.Good, r.Status));
        }

        // The same chain with a plain X509Chain and nothing but the bundle as trust.
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Root(pki));
        chain.ChainPolicy.ExtraStore.AddRange(credentials.Intermediates);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(CertificateFacts.ClientAuthOid));
        chain.ChainPolicy.VerificationTime = pki.Time.GetUtcNow().UtcDateTime;
        Assert.True(chain.Build(credentials.Leaf), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
    }

    [Theory]
    [InlineData(KeyType.EcdsaP256)]
    [InlineData(KeyType.Rsa2048)]
    public void Chains_verify_with_openssl_for_client_and_server_purposes(KeyType keyType)
    {
        using var pki = new TestPki(keyType);
        var issued = pki.Authority.Issue(new LeafRequest("inventory"));
        var files = SplitChain(issued.Directory, pki.Directory);

        foreach (var purpose in new[] { "sslclient", "sslserver" })
        {
            var (exit, output) = OpenSsl.Run("verify", "-x509_strict", "-purpose", purpose, "-CAfile", Path.Combine(issued.Directory, "ca.crt"),
                "-untrusted", files.Intermediate, "-crl_check_all", "-CRLfile", Path.Combine(issued.Directory, "crl.pem"), files.Leaf);
            Assert.True(exit == 0, output);
            Assert.Contains(": OK", output, StringComparison.Ordinal);
        }

        // And openssl reads the PKCS#8 key as the certificate's key.
        var (keyExit, keyOutput) = OpenSsl.Run("pkey", "-in", Path.Combine(issued.Directory, "tls.key"), "-pubout");
        Assert.Equal(0, keyExit);
        var (certExit, certOutput) = OpenSsl.Run("x509", "-in", files.Leaf, "-noout", "-pubkey");
        Assert.Equal(0, certExit);
        Assert.Equal(certOutput.Trim(), keyOutput.Trim());
    }

    [Fact]
    public void Openssl_refuses_a_revoked_leaf_using_the_published_crl()
    {
        using var pki = new TestPki();
        var issued = pki.Authority.Issue(new LeafRequest("inventory"));
        var files = SplitChain(issued.Directory, pki.Directory);
        pki.Authority.Revoke(issued.Entry.Serial, X509RevocationReason.KeyCompromise);

        var (exit, output) = OpenSsl.Run("verify", "-CAfile", Path.Combine(issued.Directory, "ca.crt"), "-untrusted", files.Intermediate,
            "-crl_check_all", "-CRLfile", Path.Combine(issued.Directory, "crl.pem"), files.Leaf);

        Assert.NotEqual(0, exit);
        Assert.Contains("certificate revoked", output, StringComparison.Ordinal);
    }

    internal static (string Leaf, string Intermediate) SplitChain(string serviceDirectory, string scratch)
    {
        var chain = Pem.ReadCertificates(File.ReadAllText(Path.Combine(serviceDirectory, "tls.crt")), "tls.crt");
        var leaf = Path.Combine(scratch, Guid.NewGuid().ToString("N") + "-leaf.pem");
        var intermediate = Path.Combine(scratch, Guid.NewGuid().ToString("N") + "-int.pem");
        File.WriteAllText(leaf, Pem.Certificates([chain[0]]));
        File.WriteAllText(intermediate, Pem.Certificates([chain[1]]));
        return (leaf, intermediate);
    }
}
