using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Tests;

/// <summary>
/// Inputs fuzz/run.sh (SharpFuzz under AFL++) found crashing a parser with an undocumented exception, each now its
/// documented error with a clear message. The inputs are AFL's, as it saved them.
/// </summary>
public class ParserRegressionTests
{
    [Theory]
    [InlineData("666666666666690d")] // was OverflowException: the days do not fit an int
    [InlineData("1d11111111111111111h")] // was OverflowException: the hours do not fit an int
    [InlineData("966666660d")] // was ArgumentOutOfRangeException: longer than TimeSpan.MaxValue
    [InlineData("10675200d")]
    [InlineData("99999999999999999999999999s")]
    public void A_duration_longer_than_a_TimeSpan_is_a_format_error_naming_it(string text)
    {
        var error = Assert.Throws<FormatException>(() => Durations.Parse(text));

        Assert.Contains($"'{text}' is too long a duration", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_longest_duration_a_TimeSpan_holds_still_parses()
    {
        Assert.Equal(TimeSpan.FromDays(10_675_199), Durations.Parse("10675199d"));
    }

    [Theory]
    [InlineData("\u0661d")] // ARABIC-INDIC DIGIT ONE matched \d, then int.Parse refused it
    [InlineData("\uff11h")] // FULLWIDTH DIGIT ONE
    public void A_duration_in_digits_of_another_script_is_not_a_duration(string text)
    {
        var error = Assert.Throws<FormatException>(() => Durations.Parse(text));

        Assert.Contains("is not a duration", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("l\n")]
    [InlineData("3\n")]
    [InlineData("ia---l\n")]
    public void A_name_with_a_trailing_newline_is_not_a_name(string name)
    {
        // Was accepted ('$' matches before a final newline); ForWorkload then threw FormatException for the SPIFFE ID.
        Assert.False(NameRules.IsValid(name));
        Assert.Throws<ArgumentException>(() => SpiffeId.ForWorkload("mtls-aspire.local", "development", name));
    }

    // AFL's san inputs: subjectAltName extension values with a length past the end, a broken IA5String, a wrong tag.
    [Theory]
    [InlineData("MEcvbnMvACAAAWyGNHNwaWZmIDovOm10ZGV2ZWxvcG1lbnQA")]
    [InlineData("MEeGNHNwaWZmgzovL210bHMtYXNwaXIAAH//Y2FsL25zL2RldmVsb3BtZW50L3NhL3BheW1lbnSCCWxvY2FsaG9zdIcEfwAAAQ==")]
    [InlineData("MEeGNHNwaWZmZTovL210bHMtYXNwaXJlLmxvY2FsL25zL2RldmVsb3BtZW50L3NhL3BheW1lbnSCU2V2ZWxvcG1zdIcEfwAAAQ==")]
    [InlineData("MAOGAf8=")]
    [InlineData("MQA=")]
    public void A_malformed_subject_alternative_name_gives_no_spiffe_id_and_says_why(string sanBase64)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = WithSubjectAltName(Convert.FromBase64String(sanBase64), key);

        var id = certificate.GetSpiffeId(out var problem);

        Assert.True(id.IsEmpty);
        Assert.StartsWith("a malformed subject alternative name extension", problem, StringComparison.Ordinal);
        Assert.Throws<CryptographicException>(certificate.GetUriNames);
    }

    [Fact]
    public void A_leaf_with_a_malformed_subject_alternative_name_is_refused_naming_tls_crt()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leaf = WithSubjectAltName(Convert.FromBase64String("MEcvbnMvACAAAWyGNHNwaWZmIDovOm10ZGV2ZWxvcG1lbnQA"), key);
        var files = new CredentialFiles(leaf.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem(), leaf.ExportCertificatePem(), "");

        var error = Assert.Throws<InvalidDataException>(() => ServiceCredentials.Parse(files, "/run/order"));

        Assert.Equal("/run/order/tls.crt: the leaf has a malformed subject alternative name extension", error.Message[..error.Message.IndexOf(" (", StringComparison.Ordinal)]);
    }

    [Fact]
    public void A_self_signed_certificate_whose_key_is_damaged_is_a_cryptographic_error_not_a_root()
    {
        // AFL's pem-certificates input: a seed root with bytes of its public key changed (a public certificate only).
        const string pem = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUNEekNDQWJXZ0F3SUJBZ0lRYjZMRjhVS1c4eU9yL1BaU0dlb0VWakFLQmdncWhrak9QUVFEQWpCWE1STXcKRVFZRFZRUUtEQXBOZEd4elFYTndhWEpsTVJvd0dBWURWUVFMREJGdGRHeHpMV0Z6Y0dseVpTNXNiMk5oYkRFawpNQ0lHQTFVRUF3d2JUWFJzYzBGemNHbHlaU0JTYjI5MElFTkJJRFpHUVRKRE5VWXhNQjRYRFRJMk1USXdNVEl4Ck1qa3pNRm9YRFRNMk1URXlPREl4TXpRek1Gb3dWekVUTUJFR0ExVUVDZ3dLVFhSc2MwRnpjR2x5WlRFYU1CZ0cKQTFVRUN3d1JiWFJzY3kxaGMzQnBjbVV1Ykc5allXd3hKREFpQmdOVkJBTU1HMDEwYkhOQmMzQnBjbVVnVW05dgpkQ0JEUVNBMlJrRXlRelZHTVRCWk1CTUdCeXFHU000OUFnRUdDQ3FHU000OUF3RUhBMElBQk0zZzRoSHo3RHIvCnd2NHlVMmpoSnk3RGl1MVp5R3hZYTZaMVZNTW5HZVlUd01zWExVOE5EbVhObXZZNlJqTG5EM2tUS2ZrWmt0emcKY3VXTjJnQjd0dUdqWXpCaE1BOEdBMVVkRXdFQi93UUZNQU1CQWY4d0RnWURWUjBQQVFIL0JBUURBZ0VHTUIwRwpBMVVkRGdRV0JCU25obWdLRlduUmRTQ1lEcXVXY0lCY3c1aHFJekFmQmdOVkhTTUVHREFXZ0JTbmhtZ0ZGV25SCmRTQ1lEcXVXY0lCY3c1aHFJekFLQmdncWhrak9QUVFEQWdOSUFEQkZBaUJwRkxFZlVlRmJhZGZBWFpSRWZhUTEKVC9KZzI2V3h6S283MS9tZVZzZ1R2UUloQU81a0EzVExoQnVCZkE0SVpXcnQ2alF6K3JBOHRCR2Y0QUwrQk01agpHQk42Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";
        var certificate = Assert.Single(Pem.ReadCertificates(System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(pem)), "ca.crt"));

        Assert.ThrowsAny<CryptographicException>(() => certificate.IsSelfSigned());
    }

    [Fact]
    public void A_key_naming_a_curve_this_platform_does_not_know_is_refused_naming_tls_key()
    {
        // AFL's credentials input had tls.key's curve OID 1.2.840.10045.3.1.7 (P-256) spliced into 1.2.840.1277571.1.7,
        // and PlatformNotSupportedException escaped Parse. The same damage to a key made here (never a committed key).
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leaf = WithSubjectAltName(Convert.FromBase64String("MCaGJHNwaWZmZTovL210bHMtYXNwaXJlLmxvY2FsL3NhL29yZGVy"), key);
        var pkcs8 = key.ExportPkcs8PrivateKey();
        byte[] p256 = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
        var at = pkcs8.AsSpan().IndexOf(p256);
        Assert.True(at > 0);
        pkcs8[at + p256.Length - 1] = 0x7F; // 1.2.840.10045.3.1.127: no such curve
        var files = new CredentialFiles(leaf.ExportCertificatePem(), PemEncoding.WriteString("PRIVATE KEY", pkcs8), leaf.ExportCertificatePem(), "");

        var error = Assert.Throws<InvalidDataException>(() => ServiceCredentials.Parse(files, "/run/order"));

        Assert.StartsWith("/run/order/tls.key names a key type or curve this platform does not support", error.Message, StringComparison.Ordinal);
    }

    private static X509Certificate2 WithSubjectAltName(byte[] value, ECDsa key)
    {
        var request = new CertificateRequest("CN=regression", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509Extension("2.5.29.17", value, critical: false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
    }
}
