using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Certificates;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Revocation;

namespace MtlsAspire.CertBootstrap.Tests;

public class LargeCrlTests
{
    [Fact]
    public void A_crl_of_many_serials_lists_each_with_its_date_and_reason_and_no_other()
    {
        using var pki = new TestPki();
        var directory = pki.Authority.Layout.IntermediateDirectory(pki.Init.Intermediate.Serial);
        using var issuer = X509Certificate2.CreateFromPemFile(Path.Combine(directory, "ca.crt"), Path.Combine(directory, "ca.key"));
        var now = pki.Time.GetUtcNow();
        var at = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds());
        var revoked = Enumerable.Range(0, 20_000).Select(i => new RevokedCertificate(
            new BigInteger(RandomNumberGenerator.GetBytes(16), isUnsigned: true, isBigEndian: true),
            i == 1 ? new DateTimeOffset(2050, 1, 1, 0, 0, 0, TimeSpan.Zero) : at.AddSeconds(-i),
            i % 3 == 0 ? null : X509RevocationReason.KeyCompromise)).ToList();

        var der = RevocationListSigner.Sign(issuer, 7, revoked, now, now.AddHours(1));
        var set = RevocationSet.Load(PemEncoding.WriteString("X509 CRL", der), [issuer], "crl.pem");
        var crl = RevocationList.Load(der, issuer);

        Assert.Equal(7, crl.Number);
        Assert.Equal(revoked.Count, set.Loaded.Single().Revoked);
        Assert.All(revoked, expected => Assert.Equal(expected, crl.Find(expected.Serial)));
        Assert.Null(crl.Find(new BigInteger(RandomNumberGenerator.GetBytes(16), isUnsigned: true, isBigEndian: true)));

        // Through the set, as a handshake asks: a listed leaf is revoked, another one is good.
        var listed = pki.Authority.Issue(new LeafRequest("listed"));
        var unlisted = pki.Authority.Issue(new LeafRequest("unlisted"));
        var withListed = RevocationSet.Load(PemEncoding.WriteString("X509 CRL", RevocationListSigner.Sign(issuer, 8,
            [.. revoked, new RevokedCertificate(new BigInteger(Convert.FromHexString(listed.Entry.Serial), isUnsigned: true, isBigEndian: true), at, null)],
            now, now.AddHours(1))), [issuer], "crl.pem");
        using var listedLeaf = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(listed.Directory, "tls.crt")));
        using var unlistedLeaf = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(unlisted.Directory, "tls.crt")));
        Assert.Equal(RevocationStatus.Revoked, withListed.Check(listedLeaf, issuer, now).Status);
        Assert.Equal(RevocationStatus.Good, withListed.Check(unlistedLeaf, issuer, now).Status);
    }
}
