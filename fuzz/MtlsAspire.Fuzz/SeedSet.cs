using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Data.Sqlite;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.Fuzz;

/// <summary>
/// Real inputs for every target, made at run time by our own PKI (CertBootstrap's <see cref="CertificateAuthority"/>
/// in a temporary directory, deleted after): a service directory's tls.crt, tls.key, ca.crt and crl.pem with a revoked
/// leaf, its SANs and SPIFFE IDs, the XFCC header legacy-proxy writes, and the CLI's durations and names. The private
/// keys of that throwaway PKI exist only in the <c>credentials</c> seeds, never in the repository or a log.
/// </summary>
public sealed class SeedSet
{
    private SeedSet(IReadOnlyDictionary<string, IReadOnlyList<(string Name, byte[] Bytes)>> byTarget, IReadOnlyList<X509Certificate2> issuers)
    {
        ByTarget = byTarget;
        Issuers = issuers;
    }

    /// <summary>The file name <see cref="Write"/> gives the CA certificates the CRL targets verify with.</summary>
    public const string IssuersFileName = "issuers.pem";

    /// <summary>Seeds per target name.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<(string Name, byte[] Bytes)>> ByTarget { get; }

    /// <summary>The seed PKI's roots and intermediates (public certificates only).</summary>
    public IReadOnlyList<X509Certificate2> Issuers { get; }

    /// <summary>Makes a PKI, issues, revokes and publishes CRLs, and collects what each parser reads.</summary>
    public static SeedSet Create()
    {
        var directory = Path.Combine(Path.GetTempPath(), "mtls-fuzz-seeds-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            var (authority, init) = CertificateAuthority.Initialize(Path.Combine(directory, "pki"), new PkiSettings(),
                PassphraseSource.FromValue(Convert.ToBase64String(RandomNumberGenerator.GetBytes(24))), TimeProvider.System);
            var payment = authority.Issue(new LeafRequest("payment"));
            authority.RevokeService("payment", X509RevocationReason.KeyCompromise);
            var order = authority.Issue(new LeafRequest("order") { DnsNames = ["order.local"], IPAddresses = [IPAddress.Loopback, IPAddress.IPv6Loopback] });
            authority.PublishCrls();

            var files = new CredentialDirectory(order.Directory).Read();
            var intermediate = X509CertificateLoader.LoadCertificate(
                Pem.ReadCertificates(File.ReadAllText(PkiLayout.CertificateIn(authority.Layout.IntermediateDirectory(init.Intermediate.Serial))), "ca.crt")[0].RawData);
            var issuers = authority.TrustedRoots().Cast<X509Certificate2>().Append(intermediate).ToList();
            var leaves = Pem.ReadCertificates(files.CertificatePem, "tls.crt")
                .Concat(Pem.ReadCertificates(new CredentialDirectory(payment.Directory).Read().CertificatePem, "tls.crt"))
                .ToList();
            SqliteConnection.ClearAllPools();
            return new SeedSet(Collect(files, leaves, issuers, [order.SpiffeId.ToString(), payment.SpiffeId.ToString()]), issuers);
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    /// <summary>Writes one folder per target (AFL's -i) and <see cref="IssuersFileName"/> into <paramref name="directory"/>.</summary>
    public void Write(string directory)
    {
        foreach (var (target, seeds) in ByTarget)
        {
            var folder = Path.Combine(directory, target);
            Directory.CreateDirectory(folder);
            foreach (var (name, bytes) in seeds)
            {
                File.WriteAllBytes(Path.Combine(folder, name), bytes);
            }
        }

        File.WriteAllText(Path.Combine(directory, IssuersFileName), Pem.Certificates(Issuers));
    }

    private static Dictionary<string, IReadOnlyList<(string, byte[])>> Collect(CredentialFiles files, List<X509Certificate2> leaves,
        List<X509Certificate2> issuers, string[] ids)
    {
        static List<(string, byte[])> Texts(string prefix, IEnumerable<string> texts) =>
            [.. texts.Select((t, i) => ($"{prefix}-{i}", FuzzTargets.Utf8(t)))];

        var crlBlocks = Pem.ReadBlocks(files.CrlPem, "X509 CRL");
        var sans = leaves.Select(l => l.Extensions["2.5.29.17"]?.RawData).OfType<byte[]>().ToList();
        var built = new SubjectAlternativeNameBuilder();
        built.AddUri(new Uri(ids[0]));
        built.AddUri(new Uri(ids[1]));
        built.AddDnsName("a.example");
        built.AddIpAddress(IPAddress.Parse("10.0.0.1"));
        built.AddEmailAddress("a@example.org");
        sans.Add(built.Build().RawData);

        var hash = Convert.ToHexStringLower(SHA256.HashData(leaves[0].RawData));
        return new()
        {
            ["pem-certificates"] = Texts("pem", [files.CertificatePem, files.BundlePem, Pem.Certificates(issuers)]),
            ["credentials"] = [("service-dir", FuzzTargets.Utf8(string.Join((char)FuzzTargets.FileSeparator, files.CertificatePem, files.KeyPem, files.BundlePem, files.CrlPem)))],
            ["crl-pem"] = Texts("crl", [files.CrlPem]),
            ["crl-der"] = [.. crlBlocks.Select((der, i) => ($"crl-{i}.der", der))],
            ["san"] = [.. sans.Select((der, i) => ($"san-{i}.der", der))],
            ["spiffe-id"] = Texts("id", [.. ids, "spiffe://example.org", "spiffe://a.b-c_d/ns/x/sa/y.z"]),
            ["xfcc"] = Texts("xfcc", [$"By={ids[1]};Hash={hash};URI={ids[0]}",
                $"By=spiffe://edge.example/sa/gateway;URI=spiffe://edge.example/sa/client,By={ids[1]};Hash={hash};URI={ids[0]}"]),
            ["duration"] = Texts("duration", ["24h", "90d", "1d12h", "15m", "30s", "1d2h3m4s"]),
            ["name"] = Texts("name", ["order", "legacy-ledger", "a", "development", new string('x', 63)]),
        };
    }
}
