using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MtlsAspire.LegacyLedger;
using MtlsAspire.Verification;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.Fuzz;

/// <summary>
/// Every parser that reads bytes from outside the process: what a service reads from its credential directory and
/// from a peer's certificate, what the legacy ledger reads from a header, and what the CLI reads from its arguments.
/// </summary>
public static class FuzzTargets
{
    /// <summary>The byte that splits a <c>credentials</c> input into tls.crt, tls.key, ca.crt and crl.pem.</summary>
    public const byte FileSeparator = 0;

    private const string SubjectAltNameOid = "2.5.29.17";

    /// <summary>
    /// The targets. <paramref name="issuers"/> are the CA certificates the CRL targets verify with (the seeds' PKI, so
    /// a seed's signature check runs to the end); <paramref name="signingKey"/> signs the certificates of the
    /// <c>san</c> target, a throwaway key made at run time.
    /// </summary>
    public static IReadOnlyList<FuzzTarget> All(IReadOnlyList<X509Certificate2> issuers, ECDsa signingKey) =>
    [
        new("pem-certificates", "Pem.ReadCertificates (tls.crt, ca.crt), then GetSpiffeId and IsSelfSigned of each",
            [typeof(InvalidDataException), typeof(CryptographicException)], input =>
            {
                var certificates = Expect.Only<InvalidDataException, List<X509Certificate2>>(() => Pem.ReadCertificates(Text(input), "tls.crt"));
                foreach (var certificate in certificates ?? [])
                {
                    CheckSpiffeId(certificate);
                    Expect.Only<CryptographicException, bool>(certificate.IsSelfSigned);
                    certificate.Dispose();
                }
            }),
        new("credentials", "ServiceCredentials.Parse (tls.crt, tls.key, ca.crt, crl.pem separated by NUL bytes)",
            [typeof(InvalidDataException)], input =>
            {
                var parts = Text(input).Split((char)FileSeparator);
                string Part(int i) => i < parts.Length ? parts[i] : string.Empty;
                Expect.Only<InvalidDataException, ServiceCredentials>(() => ServiceCredentials.Parse(new CredentialFiles(Part(0), Part(1), Part(2), Part(3)), "/fuzz"))
                    ?.Dispose();
            }),
        new("crl-pem", "RevocationSet.Load (crl.pem)", [typeof(CryptographicException)], input =>
            Expect.Only<CryptographicException, RevocationSet>(() => RevocationSet.Load(Text(input), issuers, "crl.pem"))),
        new("crl-der", "RevocationList.ReadIssuer, ReadStatus and Load (one DER CRL)", [typeof(CryptographicException)], input =>
            {
                Expect.Only<CryptographicException, X500DistinguishedName>(() => RevocationList.ReadIssuer(input));
                Expect.Only<CryptographicException, object>(() => RevocationList.ReadStatus(input));
                foreach (var issuer in issuers)
                {
                    if (Expect.Only<CryptographicException, RevocationList>(() => RevocationList.Load(input, issuer)) is { } crl)
                    {
                        Expect.That(crl.Entries.All(e => crl.Find(e.Serial) == e), "every entry of a loaded CRL is found by its serial");
                    }
                }
            }),
        new("san", "CertificateFacts.GetSpiffeId, GetDnsNames and GetIPAddresses (input: the subjectAltName extension's value)",
            [typeof(CryptographicException)], input =>
            {
                using var certificate = WithSubjectAltName(input, signingKey);
                CheckSpiffeId(certificate);
                Expect.Only<CryptographicException, IReadOnlyList<string>>(certificate.GetDnsNames);
                Expect.Only<CryptographicException, IReadOnlyList<System.Net.IPAddress>>(certificate.GetIPAddresses);
            }),
        new("spiffe-id", "SpiffeId.Parse and TryParse", [typeof(FormatException)], input =>
            {
                var text = Text(input);
                var parsed = Expect.Only<FormatException, SpiffeId?>(() => SpiffeId.Parse(text));
                var valid = SpiffeId.TryParse(text, out var id, out var reason);
                Expect.That(valid == parsed.HasValue, "Parse and TryParse agree");
                Expect.That(valid ? id.ToString() == text && SpiffeId.Parse(id.ToString()) == id : !string.IsNullOrEmpty(reason),
                    "a parsed ID formats back to its text; a refused one has a reason");
            }),
        new("xfcc", "ForwardedClientCert.CallerOf (the legacy ledger's X-Forwarded-Client-Cert)", [], input =>
            {
                var text = Text(input);
                var caller = ForwardedClientCert.CallerOf(text);
                Expect.That(caller is null || text.Contains(caller, StringComparison.Ordinal), "the caller is a part of the header");
            }),
        new("duration", "Durations.Parse (--lifetime, --step-timeout, --validity)", [typeof(FormatException)], input =>
            {
                var text = Text(input);
                if (Expect.Only<FormatException, TimeSpan?>(() => Durations.Parse(text)) is { } value)
                {
                    Expect.That(value > TimeSpan.Zero, "a parsed duration is positive");
                }
            }),
        new("name", "NameRules.ThrowIfInvalid and IsValid (--service, --environment)", [typeof(ArgumentException)], input =>
            {
                var text = Text(input);
                var accepted = Expect.Only<ArgumentException, bool>(() =>
                {
                    NameRules.ThrowIfInvalid(text, "service");
                    return true;
                });
                Expect.That(accepted == NameRules.IsValid(text), "ThrowIfInvalid and IsValid agree");
                if (accepted)
                {
                    Expect.That(SpiffeId.ForWorkload("mtls-aspire.local", "development", text).ServiceName == text,
                        "a valid name makes a workload SPIFFE ID naming it");
                }
            }),
    ];

    /// <summary>The target named <paramref name="name"/>; throws <see cref="ArgumentException"/> listing the names otherwise.</summary>
    public static FuzzTarget Find(IReadOnlyList<FuzzTarget> targets, string name) =>
        targets.FirstOrDefault(t => t.Name == name)
            ?? throw new ArgumentException($"Unknown target '{name}': use one of {string.Join(", ", targets.Select(t => t.Name))}.", nameof(name));

    /// <summary>The input as a service or the CLI would see it: UTF-8 text (invalid sequences become U+FFFD).</summary>
    public static string Text(byte[] input) => Encoding.UTF8.GetString(input);

    /// <summary>Text as the bytes a file or header would carry.</summary>
    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>A certificate signed by <paramref name="key"/> whose subjectAltName extension holds <paramref name="value"/> as is.</summary>
    public static X509Certificate2 WithSubjectAltName(byte[] value, ECDsa key)
    {
        var request = new CertificateRequest("CN=fuzz", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509Extension(SubjectAltNameOid, value, critical: false));
        var notBefore = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        return request.CreateSelfSigned(notBefore, notBefore.AddDays(1));
    }

    // GetSpiffeId documents no exception: every certificate gives an ID or a problem saying why not.
    private static void CheckSpiffeId(X509Certificate2 certificate)
    {
        var id = certificate.GetSpiffeId(out var problem);
        Expect.That(id.IsEmpty != (problem is null), "GetSpiffeId gives an ID or a problem, not both");
    }
}
