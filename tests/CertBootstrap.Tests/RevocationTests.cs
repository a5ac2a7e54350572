using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Tests;

public class RevocationTests
{
    private static X509Certificate2 IntermediateOf(TestPki pki, string serial) =>
        Pem.ReadCertificates(File.ReadAllText(PkiLayout.CertificateIn(pki.Authority.Layout.IntermediateDirectory(serial))), "int").Single();

    private static byte[] CrlDer(TestPki pki, string issuerSerial) =>
        Pem.ReadBlocks(File.ReadAllText(pki.Authority.Layout.CrlFile(issuerSerial)), "X509 CRL").Single();

    [Fact]
    public void A_revoked_serial_is_listed_in_the_signature_verified_crl_with_its_reason_and_time()
    {
        using var pki = new TestPki();
        var victim = pki.Authority.Issue(new LeafRequest("payment"));
        var bystander = pki.Authority.Issue(new LeafRequest("inventory"));
        pki.Time.Advance(TimeSpan.FromMinutes(3));

        pki.Authority.Revoke(victim.Entry.Serial, X509RevocationReason.KeyCompromise);

        var crl = RevocationList.Load(CrlDer(pki, pki.Init.Intermediate.Serial), IntermediateOf(pki, pki.Init.Intermediate.Serial));
        var entry = Assert.Single(crl.Entries);
        Assert.Equal(victim.Entry.Serial, Convert.ToHexString(entry.Serial.ToByteArray(isUnsigned: true, isBigEndian: true)));
        Assert.Equal(X509RevocationReason.KeyCompromise, entry.Reason);
        Assert.Equal(pki.Time.GetUtcNow(), entry.RevokedAt);
        Assert.Null(crl.Find(System.Numerics.BigInteger.Parse("0" + bystander.Entry.Serial, System.Globalization.NumberStyles.HexNumber)));
        Assert.Equal(pki.Time.GetUtcNow() + TimeSpan.FromHours(1), crl.NextUpdate);
        Assert.Equal(CertificateStatus.Revoked, pki.Authority.Ledger.Find(victim.Entry.Serial)!.Status);
    }

    [Fact]
    public void Every_service_directory_receives_the_new_crl_and_its_chain_check_reports_the_revocation()
    {
        using var pki = new TestPki();
        var victim = pki.Authority.Issue(new LeafRequest("payment"));
        var observer = pki.Authority.Issue(new LeafRequest("order"));

        pki.Authority.RevokeService("payment", X509RevocationReason.KeyCompromise);

        // The observer's crl.pem (another directory) now condemns the victim's certificate.
        using var observerCredentials = ServiceCredentials.Load(new CredentialDirectory(observer.Directory));
        using var victimCredentials = ServiceCredentials.Load(new CredentialDirectory(victim.Directory));
        var check = ChainCheck.Verify(victimCredentials.Leaf, victimCredentials.Intermediates, observerCredentials.TrustedRoots,
            observerCredentials.Revocation, pki.Time.GetUtcNow(), CertificateFacts.ClientAuthOid);

        Assert.False(check.IsValid);
        Assert.Equal(RevocationStatus.Revoked, check.Revocation[0].Status);
        Assert.Contains(check.Problems, p => p.Contains("revoked", StringComparison.Ordinal) && p.Contains("keyCompromise", StringComparison.Ordinal));
        Assert.True(observerCredentials.VerifyChain(pki.Time.GetUtcNow(), CertificateFacts.ClientAuthOid).IsValid);
    }

    [Fact]
    public void Crl_numbers_increase_with_every_crl_of_an_issuer()
    {
        using var pki = new TestPki();
        var intermediate = IntermediateOf(pki, pki.Init.Intermediate.Serial);
        var numbers = new List<System.Numerics.BigInteger>();
        for (var i = 0; i < 4; i++)
        {
            pki.Authority.PublishCrls(includeRoots: false);
            numbers.Add(RevocationList.Load(CrlDer(pki, pki.Init.Intermediate.Serial), intermediate).Number!.Value);
        }

        Assert.Equal(numbers.Order().Distinct(), numbers);
        Assert.Equal(4, numbers.Count);
    }

    [Fact]
    public void A_tampered_crl_is_refused()
    {
        using var pki = new TestPki();
        var victim = pki.Authority.Issue(new LeafRequest("payment"));
        pki.Authority.Revoke(victim.Entry.Serial);
        var der = CrlDer(pki, pki.Init.Intermediate.Serial);
        var intermediate = IntermediateOf(pki, pki.Init.Intermediate.Serial);

        // Flip one bit of the revoked serial inside the signed part: the structure stays valid, the signature does not.
        var serialBytes = Convert.FromHexString(victim.Entry.Serial);
        var at = der.AsSpan().IndexOf(serialBytes);
        Assert.True(at > 0);
        var tampered = der.ToArray();
        tampered[at + serialBytes.Length - 1] ^= 0x01;

        var error = Assert.Throws<CryptographicException>(() => RevocationList.Load(tampered, intermediate));
        Assert.Contains("signature does not verify", error.Message, StringComparison.Ordinal);
        Assert.NotNull(RevocationList.Load(der, intermediate));
    }

    [Fact]
    public void A_crl_signed_by_another_ca_with_the_same_name_is_refused()
    {
        using var pki = new TestPki();
        using var impostorKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var intermediate = IntermediateOf(pki, pki.Init.Intermediate.Serial);
        var request = new CertificateRequest(intermediate.SubjectName, impostorKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForCertificateAuthority());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var impostor = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var forged = new CertificateRevocationListBuilder().Build(impostor, 99, DateTimeOffset.UtcNow.AddHours(1), HashAlgorithmName.SHA256);

        Assert.Throws<CryptographicException>(() => RevocationList.Load(forged, intermediate));
        Assert.Throws<CryptographicException>(() => RevocationSet.Load(PemEncoding.WriteString("X509 CRL", forged), [intermediate], "crl.pem"));
    }

    [Fact]
    public void A_malformed_crl_is_refused_with_a_reason_naming_the_file()
    {
        using var pki = new TestPki();
        var intermediate = IntermediateOf(pki, pki.Init.Intermediate.Serial);
        var der = CrlDer(pki, pki.Init.Intermediate.Serial);

        var truncated = Assert.Throws<CryptographicException>(() => RevocationSet.Load(PemEncoding.WriteString("X509 CRL", der.AsSpan(0, der.Length / 2)), [intermediate], "/x/crl.pem"));
        Assert.Contains("/x/crl.pem", truncated.Message, StringComparison.Ordinal);
        Assert.Contains("malformed", truncated.Message, StringComparison.Ordinal);

        var garbage = Assert.Throws<CryptographicException>(() => RevocationSet.Load("this is not a CRL", [intermediate], "/x/crl.pem"));
        Assert.Contains("no PEM 'X509 CRL' block", garbage.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Revoking_an_intermediate_lists_it_in_the_root_crl()
    {
        using var pki = new TestPki();
        var (replacement, _) = pki.Authority.RotateIntermediate();
        pki.Authority.Revoke(pki.Init.Intermediate.Serial, X509RevocationReason.CACompromise);
        var root = Pem.ReadCertificates(File.ReadAllText(pki.Authority.Layout.BundleFile), "ca.crt").Single();

        var rootCrl = RevocationList.Load(CrlDer(pki, pki.Init.Root.Serial), root);

        Assert.Equal(X509RevocationReason.CACompromise, Assert.Single(rootCrl.Entries).Reason);
        Assert.NotNull(rootCrl.Find(IntermediateOf(pki, pki.Init.Intermediate.Serial)));
        Assert.Null(rootCrl.Find(IntermediateOf(pki, replacement.Serial)));
    }

    [Fact]
    public void A_crl_of_an_intermediate_the_reader_has_not_seen_is_verified_when_a_chain_presents_it()
    {
        using var pki = new TestPki();
        var early = pki.Authority.Issue(new LeafRequest("order"));
        pki.Authority.RotateIntermediate();
        var late = pki.Authority.Issue(new LeafRequest("inventory"));
        pki.Authority.Revoke(late.Entry.Serial);

        // order's files name only its own (old) intermediate; inventory's leaf comes from the new one.
        using var reader = ServiceCredentials.Load(new CredentialDirectory(early.Directory));
        using var peer = ServiceCredentials.Load(new CredentialDirectory(late.Directory));
        var check = ChainCheck.Verify(peer.Leaf, peer.Intermediates, reader.TrustedRoots, reader.Revocation, pki.Time.GetUtcNow());

        Assert.Equal(RevocationStatus.Revoked, check.Revocation[0].Status);
    }

    [Fact]
    public void A_stale_crl_is_reported_as_such()
    {
        using var pki = new TestPki();
        var issued = pki.Authority.Issue(new LeafRequest("order"));
        using var credentials = ServiceCredentials.Load(new CredentialDirectory(issued.Directory));

        var check = credentials.Revocation.Check(credentials.Leaf, credentials.Intermediates[0], pki.Time.GetUtcNow().AddHours(2));
        var chain = credentials.VerifyChain(pki.Time.GetUtcNow().AddHours(2));
        var tolerant = ChainCheck.Verify(credentials.Leaf, credentials.Intermediates, credentials.TrustedRoots, credentials.Revocation,
            pki.Time.GetUtcNow().AddHours(2), allowStaleCrl: true);

        Assert.Equal(RevocationStatus.StaleCrl, check.Status);
        Assert.False(chain.IsValid);
        Assert.Equal(ChainFailure.RevocationUnknown, chain.Failure!.Kind);
        Assert.True(tolerant.IsValid, string.Join("; ", tolerant.Problems));
    }

    [Fact]
    public void Revoking_an_intermediate_without_the_root_passphrase_changes_nothing()
    {
        using var pki = new TestPki();

        Assert.Throws<PkiException>(() => pki.Reopen(PassphraseSource.FromValue("wrong")).Revoke(pki.Init.Intermediate.Serial));

        Assert.Equal(CertificateStatus.Active, pki.Authority.Ledger.Find(pki.Init.Intermediate.Serial)!.Status);
    }

    [Fact]
    public void Crl_reason_codes_are_read_back_from_der()
    {
        var builder = new CertificateRevocationListBuilder();
        builder.AddEntry([0x01, 0x02], DateTimeOffset.UnixEpoch.AddYears(50), X509RevocationReason.Superseded);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=test ca", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForCertificateAuthority());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.CrlSign, true));
        using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var der = builder.Build(ca, 7, DateTimeOffset.UtcNow.AddHours(1), HashAlgorithmName.SHA256);

        var crl = RevocationList.Load(der, ca);

        Assert.Equal(7, crl.Number);
        Assert.Equal(X509RevocationReason.Superseded, crl.Find(0x0102)!.Reason);
        _ = new AsnReader(der, AsnEncodingRules.DER).ReadSequence(); // and it is DER
    }

    private const string PrivateOid = "1.3.6.1.4.1.55555.1";

    /// <summary>
    /// A CRL signed by <paramref name="ca"/> listing serial 0102, with one extra extension in the CRL or in its entry, and
    /// CRL number <paramref name="number"/> (none when null).
    /// </summary>
    private static byte[] CrlWithExtension(X509Certificate2 ca, ECDsa key, bool inEntry, bool critical, int? number = 3)
    {
        static void WriteExtension(AsnWriter writer, string oid, bool critical, byte[] value)
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(oid);
                if (critical)
                {
                    writer.WriteBoolean(true);
                }

                writer.WriteOctetString(value);
            }
        }

        var crlNumber = new AsnWriter(AsnEncodingRules.DER);
        crlNumber.WriteInteger(number ?? 0);
        var nothing = new AsnWriter(AsnEncodingRules.DER);
        nothing.WriteNull();
        var now = DateTimeOffset.UtcNow;
        var tbs = new AsnWriter(AsnEncodingRules.DER);
        using (tbs.PushSequence())
        {
            tbs.WriteInteger(1); // v2
            using (tbs.PushSequence())
            {
                tbs.WriteObjectIdentifier("1.2.840.10045.4.3.2"); // ecdsa-with-SHA256
            }

            tbs.WriteEncodedValue(ca.SubjectName.RawData);
            tbs.WriteUtcTime(now.AddMinutes(-1));
            tbs.WriteUtcTime(now.AddHours(1));
            using (tbs.PushSequence())
            using (tbs.PushSequence())
            {
                tbs.WriteInteger(0x0102);
                tbs.WriteUtcTime(now.AddMinutes(-1));
                if (inEntry)
                {
                    using (tbs.PushSequence())
                    {
                        WriteExtension(tbs, PrivateOid, critical, nothing.Encode());
                    }
                }
            }

            using (tbs.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            using (tbs.PushSequence())
            {
                if (number is not null)
                {
                    WriteExtension(tbs, "2.5.29.20", critical: false, crlNumber.Encode());
                }

                if (!inEntry)
                {
                    WriteExtension(tbs, PrivateOid, critical, nothing.Encode());
                }
            }
        }

        var signed = tbs.Encode();
        var crl = new AsnWriter(AsnEncodingRules.DER);
        using (crl.PushSequence())
        {
            crl.WriteEncodedValue(signed);
            using (crl.PushSequence())
            {
                crl.WriteObjectIdentifier("1.2.840.10045.4.3.2");
            }

            crl.WriteBitString(key.SignData(signed, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        }

        return crl.Encode();
    }

    [Theory]
    [InlineData(false, "the CRL has the critical extension 1.3.6.1.4.1.55555.1", "§5.2")]
    [InlineData(true, "the entry for serial 102 has the critical extension 1.3.6.1.4.1.55555.1", "§5.3")]
    public void A_crl_with_a_critical_extension_the_reader_does_not_process_is_refused_and_says_which(bool inEntry, string where, string section)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=test ca", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForCertificateAuthority());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.KeyCertSign, true));
        using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));

        var refused = Assert.Throws<CryptographicException>(() => RevocationList.Load(CrlWithExtension(ca, key, inEntry, critical: true), ca));
        var refusedInFile = Assert.Throws<CryptographicException>(() =>
            RevocationSet.Load(PemEncoding.WriteString("X509 CRL", CrlWithExtension(ca, key, inEntry, critical: true)), [ca], "/x/crl.pem"));
        // The same extension, not critical, may be ignored: the CRL is used.
        var used = RevocationList.Load(CrlWithExtension(ca, key, inEntry, critical: false), ca);

        Assert.Contains(where, refused.Message, StringComparison.Ordinal);
        Assert.Contains($"RFC 5280 {section}", refused.Message, StringComparison.Ordinal);
        Assert.Contains("/x/crl.pem", refusedInFile.Message, StringComparison.Ordinal);
        Assert.Contains(where, refusedInFile.Message, StringComparison.Ordinal);
        Assert.NotNull(used.Find(0x0102));
        Assert.Equal(3, used.Number);
    }

    /// <summary>A CA that signs CRLs, and a leaf of it with serial 0304.</summary>
    private static (X509Certificate2 Ca, X509Certificate2 Leaf) CrlSigner(ECDsa key)
    {
        var request = new CertificateRequest("CN=test ca", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForCertificateAuthority());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leaf = new CertificateRequest("CN=leaf", leafKey, HashAlgorithmName.SHA256).Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(1), [0x03, 0x04]);
        return (ca, leaf);
    }

    /// <summary>A CRL of <paramref name="ca"/> numbered <paramref name="number"/>, issued at <paramref name="thisUpdate"/>, listing the leaf 0304 or nothing.</summary>
    private static byte[] NumberedCrl(X509Certificate2 ca, int number, DateTimeOffset thisUpdate, bool listsLeaf)
    {
        var builder = new CertificateRevocationListBuilder();
        if (listsLeaf)
        {
            builder.AddEntry([0x03, 0x04], thisUpdate, X509RevocationReason.KeyCompromise);
        }

        return builder.Build(ca, number, thisUpdate.AddHours(1), HashAlgorithmName.SHA256, thisUpdate: thisUpdate);
    }

    private static string CrlFile(params byte[][] crls) => string.Concat(crls.Select(crl => PemEncoding.WriteString("X509 CRL", crl) + "\n"));

    /// <summary>What a crl.pem holding <paramref name="a"/> and <paramref name="b"/> says of the leaf 0304, in both file orders.</summary>
    private static RevocationCheck[] CheckInBothOrders(X509Certificate2 ca, X509Certificate2 leaf, byte[] a, byte[] b) =>
        [.. new[] { CrlFile(a, b), CrlFile(b, a) }.Select(file => RevocationSet.Load(file, [ca], "crl.pem").Check(leaf, ca, DateTimeOffset.UtcNow))];

    [Fact]
    public void Of_two_crls_of_one_issuer_the_higher_crl_number_wins_even_with_the_older_this_update()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var (ca, leaf) = CrlSigner(key);
        var higher = NumberedCrl(ca, 5, DateTimeOffset.UtcNow.AddMinutes(-30), listsLeaf: true);
        var lowerButLater = NumberedCrl(ca, 4, DateTimeOffset.UtcNow.AddMinutes(-1), listsLeaf: false);

        Assert.All(CheckInBothOrders(ca, leaf, higher, lowerButLater), check =>
        {
            Assert.Equal(RevocationStatus.Revoked, check.Status);
            Assert.Equal(5, check.Crl!.Number);
        });
    }

    [Fact]
    public void A_crl_without_a_crl_number_is_refused_since_only_numbers_order_crls()
    {
        // It used to be ordered by its thisUpdate in seconds since 1970, which outranks any CRL number: this one, listing
        // only 0102, would have hidden the revocation of 0304 in CRL #3.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var (ca, _) = CrlSigner(key);
        var numbered = NumberedCrl(ca, 3, DateTimeOffset.UtcNow.AddMinutes(-1), listsLeaf: true);
        var unnumbered = CrlWithExtension(ca, key, inEntry: true, critical: false, number: null);

        var refused = Assert.Throws<CryptographicException>(() => RevocationSet.Load(CrlFile(numbered, unnumbered), [ca], "/x/crl.pem"));

        Assert.Contains("/x/crl.pem: CRL #2 from 'CN=test ca' has no CRL number (RFC 5280 §5.2.3)", refused.Message, StringComparison.Ordinal);
        // A CRL whose issuer is not known yet is held to the same rule.
        Assert.Throws<CryptographicException>(() => RevocationSet.Load(CrlFile(unnumbered), [], "/x/crl.pem"));
    }

    [Fact]
    public void Crls_with_the_same_number_are_ordered_alike_in_any_file_order_and_the_one_revoking_more_wins()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var (ca, leaf) = CrlSigner(key);
        var issued = DateTimeOffset.UtcNow.AddMinutes(-1);
        var listing = NumberedCrl(ca, 7, issued, listsLeaf: true);
        var notListing = NumberedCrl(ca, 7, issued, listsLeaf: false);

        Assert.All(CheckInBothOrders(ca, leaf, listing, notListing), check => Assert.Equal(RevocationStatus.Revoked, check.Status));
    }
}
