using System.Net;
using System.Net.Http.Json;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using MtlsAspire.Kubernetes.Tests.Infrastructure;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Revocation;

namespace MtlsAspire.Kubernetes.Tests;

/// <summary>
/// The CA publisher's inputs are ConfigMaps people edit (<c>mtls-trust-extra</c>, <c>mtls-revocations</c>), easier to
/// write than the CA keys: what is written there must not widen trust or undo a revocation. The published manifests
/// run as in <see cref="ManifestsRunTests"/>; each test ends once order has loaded the publisher's newest CRLs.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "xunit calls DisposeAsync, which stops the cluster's processes.")]
public sealed class TrustInputsRunTests(PublishedManifests published) : IClassFixture<PublishedManifests>, IAsyncLifetime
{
    private const string ShopperId = "spiffe://mtls-aspire.local/ns/mtls-aspire/sa/shopper";

    private readonly string _root = Directory.CreateTempSubdirectory("k8s-inputs-").FullName;
    private LocalCluster _cluster = null!; // null only when InstallAsync failed (it then stopped what it started)

    private string OrderUrl => $"https://order.mtls-aspire.svc:{_cluster.PortOf("order", "https")}/api/orders";

    public async Task InitializeAsync() => _cluster = await LocalCluster.InstallAsync(published.SelfSigned, _root, LocalCluster.AppPods);

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task An_unmarked_root_written_into_mtls_trust_extra_does_not_let_its_leaf_speak_for_shopper()
    {
        // Someone who can write ConfigMaps: a root of their own (no trust-domain mark), a leaf claiming shopper's ID,
        // and, since every CA needs a current CRL, an empty CRL of that root appended to the published crl.pem.
        var now = DateTimeOffset.UtcNow;
        using var strayKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=Stray Root CA", strayKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        using var strayRoot = rootRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(30));
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=shopper", leafKey, HashAlgorithmName.SHA256);
        leafRequest.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForEndEntity(critical: true));
        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(ShopperId));
        leafRequest.CertificateExtensions.Add(san.Build());
        leafRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(strayRoot, true, false));
        using var leaf = leafRequest.Create(strayRoot, now.AddMinutes(-5), now.AddDays(1), [0x01, .. RandomNumberGenerator.GetBytes(15)]);
        _cluster.CertManager.Secrets["stray-shopper"] = new Dictionary<string, string>
        {
            ["tls.crt"] = leaf.ExportCertificatePem() + "\n",
            ["tls.key"] = leafKey.ExportPkcs8PrivateKeyPem() + "\n",
        };

        _cluster.ConfigMaps["mtls-trust-extra"] = new() { ["roots.pem"] = strayRoot.ExportCertificatePem() + "\n" };
        await _cluster.RunJobAsync("mtls-ca-publisher-initial");
        var strayCrl = new CertificateRevocationListBuilder().Build(strayRoot, BigInteger.One, now.AddHours(1), HashAlgorithmName.SHA256, thisUpdate: now.AddMinutes(-5));
        var newest = NewestIntermediateCrlNumber();
        _cluster.ConfigMaps["mtls-crl"]["crl.pem"] += PemEncoding.WriteString("X509 CRL", strayCrl) + "\n";
        _cluster.Propagate();
        await UntilOrderUses(newest);

        Assert.DoesNotContain(strayRoot.Thumbprint, Bundle().Select(c => c.Thumbprint));
        using var stray = MtlsClient.For(_cluster, "stray-shopper");
        Assert.True(await MtlsClient.IsRefusedAsync(stray, OrderUrl), "order took a leaf of a root that only mtls-trust-extra named");
    }

    [Fact]
    public async Task A_serial_deleted_from_mtls_revocations_stays_refused_after_the_next_publication()
    {
        using var leaf = X509Certificate2.CreateFromPem(_cluster.CertManager.Secrets["shopper-tls"]["tls.crt"]);
        var emptyList = _cluster.ConfigMaps["mtls-revocations"]["revoked.txt"];
        await _cluster.RevokeAsync(leaf.SerialNumber);
        await UntilOrderUses(NewestIntermediateCrlNumber());

        // The line is deleted (by mistake, or by someone who wants the certificate back); the publisher runs again.
        _cluster.ConfigMaps["mtls-revocations"]["revoked.txt"] = emptyList;
        await _cluster.RunJobAsync("mtls-ca-publisher-initial");
        _cluster.Propagate();
        var newest = NewestIntermediateCrlNumber();
        await UntilOrderUses(newest);

        Assert.Contains(IntermediateCrl().Entries, e => e.Serial == leaf.GetSerial());
        using var shopper = MtlsClient.For(_cluster, "shopper-tls");
        Assert.True(await MtlsClient.IsRefusedAsync(shopper, OrderUrl), $"order took shopper's revoked certificate under CRL #{newest}");
    }

    private X509Certificate2 Intermediate() => X509Certificate2.CreateFromPem(_cluster.CertManager.Secrets["mtls-intermediate-ca"]["tls.crt"]);

    private List<X509Certificate2> Bundle() => Pem.ReadCertificates(_cluster.ConfigMaps["mtls-trust-bundle"]["ca.crt"], "mtls-trust-bundle");

    // The intermediate's CRL as the publisher last wrote it into mtls-crl, verified with the intermediate's key.
    private RevocationList IntermediateCrl()
    {
        using var intermediate = Intermediate();
        return Pem.ReadBlocks(_cluster.ConfigMaps["mtls-crl"]["crl.pem"], "X509 CRL")
            .Where(der => RevocationList.ReadIssuer(der).RawData.AsSpan().SequenceEqual(intermediate.SubjectName.RawData))
            .Select(der => RevocationList.Load(der, intermediate))
            .Single();
    }

    private string NewestIntermediateCrlNumber() => IntermediateCrl().Number!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    // Order reports (on /mtls/status) the CRLs it checks peers against: once it shows this number, it has loaded the files.
    private async Task UntilOrderUses(string crlNumber)
    {
        using var http = new HttpClient();
        await Eventually.Until(async () =>
        {
            var status = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{_cluster.HealthPort("order")}/mtls/status"))!;
            return status["crls"]!.AsArray().Any(c => (string?)c!["number"] == crlNumber);
        }, $"order uses CRL #{crlNumber}", TimeSpan.FromSeconds(30));
    }
}
