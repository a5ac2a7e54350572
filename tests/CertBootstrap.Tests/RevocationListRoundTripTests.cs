using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CsCheck;
using MtlsAspire.CertBootstrap.Certificates;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.CertBootstrap.Tests;

/// <summary>What RevocationListSigner writes, RevocationList and RevocationSet read back unchanged.</summary>
public class RevocationListRoundTripTests
{
    // 1950 to 2100: UTCTime's years, then GeneralizedTime's (RFC 5280 §5.1.2.4), whole seconds as DER carries them.
    private static readonly Gen<DateTimeOffset> s_time = Gen.Long[-631_152_000, 4_102_444_800].Select(DateTimeOffset.FromUnixTimeSeconds);

    private static readonly Gen<BigInteger> s_unsigned = Gen.Byte.Array[1, 20].Select(b => new BigInteger(b, isUnsigned: true, isBigEndian: true));

    private static readonly Gen<X509RevocationReason?> s_reason =
        Gen.OneOf([null, .. Enum.GetValues<X509RevocationReason>().Select(r => (X509RevocationReason?)r)]);

    private static readonly Gen<RevokedCertificate> s_entry = Gen.Select(s_unsigned, s_time, s_reason, (serial, at, reason) => new RevokedCertificate(serial, at, reason));

    [Fact]
    public void A_signed_crl_reads_back_with_its_issuer_number_dates_and_revoked_serials()
    {
        using var pki = new TestPki();
        var directory = pki.Authority.Layout.IntermediateDirectory(pki.Init.Intermediate.Serial);
        using var issuer = X509Certificate2.CreateFromPemFile(Path.Combine(directory, "ca.crt"), Path.Combine(directory, "ca.key"));

        Gen.Select(s_unsigned, s_time, Gen.Long[1, 10L * 365 * 86_400], s_entry.Array[0, 40]).Sample((number, thisUpdate, validity, entries) =>
        {
            var revoked = entries.DistinctBy(e => e.Serial).ToList();
            var nextUpdate = thisUpdate.AddSeconds(validity);

            var der = RevocationListSigner.Sign(issuer, number, revoked, thisUpdate, nextUpdate);
            var crl = RevocationList.Load(der, issuer);
            var set = RevocationSet.Load(PemEncoding.WriteString("X509 CRL", der), [issuer], "crl.pem");

            Assert.Equal(issuer.SubjectName.RawData, crl.Issuer.RawData);
            Assert.Equal(number, crl.Number);
            Assert.Equal(thisUpdate, crl.ThisUpdate);
            Assert.Equal(nextUpdate, crl.NextUpdate);
            Assert.Equal(revoked.OrderBy(e => e.Serial), crl.Entries.OrderBy(e => e.Serial));
            Assert.Equal(new CrlStatus(issuer.SubjectName.Name, number.ToString(System.Globalization.CultureInfo.InvariantCulture), thisUpdate, nextUpdate, revoked.Count),
                Assert.Single(set.Loaded));
        }, iter: 100, threads: 1);
    }
}
