using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Tests;

/// <summary>
/// A CRL of an issuer the reader has not met yet (after an intermediate rotation) stays pending until a chain presents
/// that issuer. What a forger can make of it: intermediates bearing the pending CRL's issuer name, under our root's name.
/// </summary>
public class PendingCrlTests
{
    [Fact]
    public void Forged_intermediates_named_like_a_pending_crls_issuer_are_refused_and_leave_nothing_behind()
    {
        using var pki = new TestPki();
        var early = pki.Authority.Issue(new LeafRequest("order"));
        var (replacement, _) = pki.Authority.RotateIntermediate();
        var late = pki.Authority.Issue(new LeafRequest("inventory"));
        using var reader = ServiceCredentials.Load(new CredentialDirectory(early.Directory));
        using var peer = ServiceCredentials.Load(new CredentialDirectory(late.Directory));
        var root = Assert.Single(reader.TrustedRoots);
        var named = Assert.Single(peer.Intermediates);
        Assert.Equal(replacement.Serial, named.SerialNumber);
        var now = pki.Time.GetUtcNow();

        // Each forgery: an intermediate with the new intermediate's name, claiming our root as its issuer (name and key
        // identifier) but signed by a key of the forger's, and a leaf under it. The path reaches our root by name only.
        var forgeries = RevocationSet.VerifiedLaterCapacity + 36;
        for (var i = 0; i < forgeries; i++)
        {
            var (intermediate, leaf) = Forge(named.SubjectName, root, now);
            using (intermediate)
            using (leaf)
            {
                var check = ChainCheck.Verify(leaf, [intermediate], reader.TrustedRoots, reader.Revocation, now, CertificateFacts.ClientAuthOid);

                Assert.False(check.IsValid);
                Assert.Equal(ChainFailure.Invalid, check.Failure!.Kind);
                Assert.Empty(check.Revocation);
                // Asked directly, the set verifies the pending CRL against the forgery, fails, and keeps nothing of it.
                Assert.Equal(RevocationStatus.NoCrl, reader.Revocation.Check(leaf, intermediate, now).Status);
            }
        }

        Assert.Equal(0, reader.Revocation.VerifiedLaterCount);

        // The real intermediate, presented by a real chain, still gets its pending CRL verified and used.
        var genuine = ChainCheck.Verify(peer.Leaf, peer.Intermediates, reader.TrustedRoots, reader.Revocation, now, CertificateFacts.ClientAuthOid);
        Assert.True(genuine.IsValid, string.Join("; ", genuine.Problems));
        Assert.Equal(RevocationStatus.Good, genuine.Revocation[0].Status);
        Assert.Equal(1, reader.Revocation.VerifiedLaterCount);
    }

    [Fact]
    public void A_crl_whose_signature_does_not_verify_is_refused_before_its_entries_are_decoded()
    {
        using var pki = new TestPki();
        var victim = pki.Authority.Issue(new LeafRequest("payment"));
        pki.Authority.Revoke(victim.Entry.Serial);
        var directory = pki.Authority.Layout.IntermediateDirectory(pki.Init.Intermediate.Serial);
        var intermediate = Pem.ReadCertificates(File.ReadAllText(PkiLayout.CertificateIn(directory)), "int").Single();
        var der = Pem.ReadBlocks(File.ReadAllText(pki.Authority.Layout.CrlFile(pki.Init.Intermediate.Serial)), "X509 CRL").Single();

        // The revoked entry's serial turned from an INTEGER into an OCTET STRING of the same length: every length around it
        // still holds, the entry can no longer be decoded, and the signature no longer verifies.
        var serial = Convert.FromHexString(victim.Entry.Serial);
        var at = der.AsSpan().IndexOf(serial);
        var tag = der[at - 1] == serial.Length ? at - 2 : at - 3;
        Assert.Equal(0x02, der[tag]);
        var broken = der.ToArray();
        broken[tag] = 0x04;

        var error = Assert.Throws<CryptographicException>(() => RevocationList.Load(broken, intermediate));
        Assert.Contains("signature does not verify", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("malformed", error.Message, StringComparison.Ordinal);
        // Read without its signature (a status report), the same bytes are malformed: the entries were decoded only then.
        Assert.Contains("malformed", Assert.Throws<CryptographicException>(() => RevocationList.ReadStatus(broken)).Message, StringComparison.Ordinal);
        Assert.Single(RevocationList.Load(der, intermediate).Entries);
    }

    private static (X509Certificate2 Intermediate, X509Certificate2 Leaf) Forge(X500DistinguishedName name, X509Certificate2 root, DateTimeOffset now)
    {
        using var forgerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(name, intermediateKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForCertificateAuthority(0));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
        using var signed = request.Create(root.SubjectName, X509SignatureGenerator.CreateForECDsa(forgerKey), now.AddMinutes(-5), now.AddDays(1),
            RandomNumberGenerator.GetBytes(16));
        var intermediate = signed.CopyWithPrivateKey(intermediateKey);

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=forged", leafKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri("spiffe://mtls-aspire.local/ns/development/sa/order"));
        leafRequest.CertificateExtensions.Add(names.Build());
        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(CertificateFacts.ClientAuthOid)], false));
        leafRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(intermediate, true, false));
        var leaf = leafRequest.Create(intermediate, now.AddMinutes(-5), now.AddHours(1), RandomNumberGenerator.GetBytes(16));
        return (intermediate, leaf);
    }
}
