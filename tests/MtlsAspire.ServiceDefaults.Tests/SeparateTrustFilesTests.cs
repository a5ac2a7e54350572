using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Tests;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// cert-manager's CSI driver gives each pod its own key and certificate in a volume nothing can be added to; the trust
/// bundle and the CRLs come from ConfigMaps mounted as other directories (<c>Mtls:TrustBundleFile</c>,
/// <c>Mtls:CrlFile</c>). Each is a kubelet-style volume here, swapped by a <c>..data</c> rename.
/// </summary>
public class SeparateTrustFilesTests
{
    /// <summary>A pod's three volumes: the CSI volume (tls.crt, tls.key) and the bundle and CRL ConfigMaps.</summary>
    private sealed record PodVolumes(MountedVolume Credentials, MountedVolume Bundle, MountedVolume Crl)
    {
        public string BundleFile => Bundle.FileOf("ca.crt");

        public string CrlFile => Crl.FileOf("crl.pem");

        public Dictionary<string, string?> Settings(params (string Key, string Value)[] more)
        {
            var settings = new Dictionary<string, string?> { ["Mtls:TrustBundleFile"] = BundleFile, ["Mtls:CrlFile"] = CrlFile };
            foreach (var (key, value) in more)
            {
                settings[key] = value;
            }

            return settings;
        }

        public void PublishBundle(string bundlePem) => Bundle.Publish(("ca.crt", bundlePem));

        public void PublishCrl(string crlPem) => Crl.Publish(("crl.pem", crlPem));
    }

    /// <summary>
    /// Mounts the leaf CertBootstrap wrote to <paramref name="issuedDirectory"/> as the CSI driver would (key and
    /// certificate only, plus <paramref name="extraCredentialFiles"/>), and the bundle and CRLs as two ConfigMaps
    /// (the CRL one left empty with <paramref name="withCrl"/> false: not published yet).
    /// </summary>
    private static PodVolumes Mount(TestPki pki, string issuedDirectory, bool withCrl = true, params (string Name, string Content)[] extraCredentialFiles)
    {
        var files = new CredentialDirectory(issuedDirectory).Read();
        var pod = Path.Combine(pki.Directory, "pod-" + Guid.NewGuid().ToString("N")[..6]);
        var volumes = new PodVolumes(new MountedVolume(Path.Combine(pod, "csi")), new MountedVolume(Path.Combine(pod, "trust-bundle")),
            new MountedVolume(Path.Combine(pod, "crl")));
        volumes.Credentials.Publish([("tls.crt", files.CertificatePem), ("tls.key", files.KeyPem), .. extraCredentialFiles]);
        volumes.PublishBundle(files.BundlePem);
        if (withCrl)
        {
            volumes.PublishCrl(files.CrlPem);
        }

        return volumes;
    }

    private static IssuedLeaf IssueServer(TestPki pki) =>
        pki.Authority.Issue(new LeafRequest("payment") { DnsNames = ["localhost"], IPAddresses = [IPAddress.Loopback] });

    private static Task<MtlsTestServer> StartServer(PodVolumes volumes, params (string Key, string Value)[] settings) =>
        MtlsTestServer.StartAsync(volumes.Credentials.Path, Scenario.MapEndpoints, settings: volumes.Settings(settings));

    /// <summary>A raw client (a new connection per request) presenting the leaf CertBootstrap wrote to <paramref name="directory"/>.</summary>
    private static HttpClient RawClient(string directory, TestPki serverPki)
    {
        var credentials = ServiceCredentials.Load(new CredentialDirectory(directory));
        return RawTlsClient.Create(credentials.Leaf, credentials.Intermediates, serverPki.Authority.TrustedRoots());
    }

    private static MetricCollector<long> Collect(IServiceProvider services, string instrument) =>
        new(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), MtlsTelemetry.MeterName, instrument);

    /// <summary>The CRLs the CA publisher would put in the ConfigMap now (every service directory gets the same crl.pem).</summary>
    private static string CurrentCrls(TestPki pki) => new CredentialDirectory(pki.Authority.Layout.ServiceDirectory("payment")).Read().CrlPem;

    private static Uri Whoami(MtlsTestServer server) => new(server.Https, "/api/whoami");

    [Fact]
    public async Task A_server_with_only_its_key_and_certificate_in_its_credentials_directory_trusts_by_the_bundle_and_crl_files_elsewhere()
    {
        using var pki = new TestPki();
        var volumes = Mount(pki, IssueServer(pki).Directory);
        Assert.Equal(["..data", "tls.crt", "tls.key"], Directory.EnumerateFileSystemEntries(volumes.Credentials.Path)
            .Select(p => Path.GetFileName(p)).Where(n => !n.StartsWith("..2", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        await using var server = await StartServer(volumes);
        using var failures = Collect(server.App.Services, "mtls.handshake.failures");
        using var other = new TestPki();
        using var ownClient = RawClient(pki.Authority.Issue(new LeafRequest("order")).Directory, pki);
        using var strangerClient = RawClient(other.Authority.Issue(new LeafRequest("order")).Directory, pki);

        var response = await ownClient.GetAsync(Whoami(server));
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => strangerClient.GetAsync(Whoami(server)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/order", (await response.Content.ReadFromJsonAsync<Scenario.Caller>())!.SpiffeId);
        await Eventually.True(() => failures.GetMeasurementSnapshot().Any(m => (string?)m.Tags["reason"] == "unknown-ca"), "the stranger refused as unknown-ca");
        Assert.Single(server.Store.Current.TrustedRoots);
        Assert.NotEmpty(server.Store.Current.Crls);
    }

    [Fact]
    public async Task The_credentials_directorys_own_ca_crt_and_crl_pem_are_ignored_when_the_separate_files_are_set()
    {
        using var pki = new TestPki();
        using var other = new TestPki();
        // What the CSI driver may add (the issuer's CA): here another PKI's bundle, and a crl.pem nobody could parse.
        var otherBundle = File.ReadAllText(other.Authority.Layout.BundleFile);
        var volumes = Mount(pki, IssueServer(pki).Directory, withCrl: true, ("ca.crt", otherBundle), ("crl.pem", "not a CRL\n"));
        await using var server = await StartServer(volumes);
        using var ownClient = RawClient(pki.Authority.Issue(new LeafRequest("order")).Directory, pki);
        using var strangerClient = RawClient(other.Authority.Issue(new LeafRequest("order")).Directory, pki);

        Assert.Equal(HttpStatusCode.OK, (await ownClient.GetAsync(Whoami(server))).StatusCode);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => strangerClient.GetAsync(Whoami(server)));
        Assert.Equal(Assert.Single(pki.Authority.TrustedRoots()).Thumbprint, Assert.Single(server.Store.Current.TrustedRoots).Thumbprint);
    }

    public static TheoryData<string, bool, string> ReloadPaths => new()
    {
        // Only the watcher on the CRL's own directory can see the swap: the poll is an hour away, and a revoked peer
        // does not trigger an on-demand check.
        { "the watcher", true, "01:00:00" },
        // Only the poll can: its fingerprint covers the CRL file's own ..data generation.
        { "the poll", false, "00:00:00.200" },
    };

    [Theory]
    [MemberData(nameof(ReloadPaths))]
    public async Task Revoking_a_client_by_swapping_a_new_crl_into_the_crl_directory_only_refuses_it_within_the_reload(string by, bool watch, string interval)
    {
        using var pki = new TestPki();
        var volumes = Mount(pki, IssueServer(pki).Directory);
        await using var server = await StartServer(volumes, ("Mtls:WatchFiles", watch ? "true" : "false"), ("Mtls:ReloadInterval", interval));
        using var failures = Collect(server.App.Services, "mtls.handshake.failures");
        using var client = RawClient(pki.Authority.Issue(new LeafRequest("order")).Directory, pki);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(Whoami(server))).StatusCode);
        var generation = server.Store.Current.Generation;

        pki.Authority.RevokeService("order", X509RevocationReason.KeyCompromise);
        volumes.PublishCrl(CurrentCrls(pki));

        await Eventually.True(() => server.Store.Current.Generation > generation, $"{by} saw the new CRL and the server loaded it");
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(Whoami(server)));
        await Eventually.True(() => failures.GetMeasurementSnapshot().Any(m => (string?)m.Tags["reason"] == "revoked"), "the client refused as revoked");
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Message.Contains(": revoked.", StringComparison.Ordinal)
            && r.Message.Contains("keyCompromise", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_root_added_to_the_bundle_file_only_is_trusted_after_the_swap()
    {
        using var pki = new TestPki();
        using var other = new TestPki();
        var otherClientDirectory = other.Authority.Issue(new LeafRequest("order")).Directory;
        var volumes = Mount(pki, IssueServer(pki).Directory);
        // The CA publisher already publishes the CRLs of both roots' CAs; only the bundle lags behind.
        volumes.PublishCrl(CurrentCrls(pki) + new CredentialDirectory(otherClientDirectory).Read().CrlPem);
        await using var server = await StartServer(volumes);
        using var otherClient = RawClient(otherClientDirectory, pki);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => otherClient.GetAsync(Whoami(server)));
        var generation = server.Store.Current.Generation;

        volumes.PublishBundle(File.ReadAllText(pki.Authority.Layout.BundleFile) + File.ReadAllText(other.Authority.Layout.BundleFile));

        await Eventually.True(() => server.Store.Current.Generation > generation, "the server loaded the new bundle");
        var response = await otherClient.GetAsync(Whoami(server));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(ServiceCredentials.Load(new CredentialDirectory(otherClientDirectory)).Leaf.SerialNumber,
            (await response.Content.ReadFromJsonAsync<Scenario.Caller>())!.Serial);
        Assert.Equal(2, server.Store.Current.TrustedRoots.Count);
    }

    [Fact]
    public async Task With_the_crl_file_absent_at_start_peers_are_refused_as_crl_unavailable_and_accepted_once_it_appears()
    {
        using var pki = new TestPki();
        var volumes = Mount(pki, IssueServer(pki).Directory, withCrl: false);
        await using var server = await StartServer(volumes);
        using var failures = Collect(server.App.Services, "mtls.handshake.failures");
        using var client = RawClient(pki.Authority.Issue(new LeafRequest("order")).Directory, pki);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(Whoami(server)));

        await Eventually.True(() => failures.GetMeasurementSnapshot().Any(m => (string?)m.Tags["reason"] == "crl-unavailable"), "the client refused as crl-unavailable");
        Assert.All(failures.GetMeasurementSnapshot(), m => Assert.Equal("crl-unavailable", m.Tags["reason"]));
        Assert.Empty(server.Store.Current.Crls);
        Assert.Contains(server.Logs.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Message.Contains("has no CRL", StringComparison.Ordinal)
            && r.Message.Contains(volumes.CrlFile, StringComparison.Ordinal));
        var generation = server.Store.Current.Generation;

        volumes.PublishCrl(CurrentCrls(pki));

        await Eventually.True(() => server.Store.Current.Generation > generation, "the server loaded the CRL once it appeared");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(Whoami(server))).StatusCode);
        Assert.NotEmpty(server.Store.Current.Crls);
    }

    [Fact]
    public async Task A_garbage_crl_swapped_into_the_crl_directory_is_refused_the_old_one_keeps_working_and_the_log_names_the_file()
    {
        using var pki = new TestPki();
        var revoked = pki.Authority.Issue(new LeafRequest("inventory")).Directory;
        pki.Authority.RevokeService("inventory");
        var volumes = Mount(pki, IssueServer(pki).Directory);
        await using var server = await StartServer(volumes);
        using var refusals = Collect(server.App.Services, "mtls.certificate.reload_failures");
        using var client = RawClient(pki.Authority.Issue(new LeafRequest("order")).Directory, pki);
        using var revokedClient = RawClient(revoked, pki);
        var loaded = server.Store.Current;

        volumes.PublishCrl("this is not a CRL\n");

        await Eventually.True(() => server.Logs.GetSnapshot().Any(r => r.Level == LogLevel.Warning
            && r.Message.Contains("refused the new credential files", StringComparison.Ordinal)
            && r.Message.Contains($"{volumes.CrlFile}: no PEM 'X509 CRL' block found", StringComparison.Ordinal)), "the refusal is logged naming the CRL file");
        // The store logs the refusal, then counts it: the count may come a moment after the log.
        await Eventually.True(() => refusals.GetMeasurementSnapshot().Count > 0, "the refusal is counted");
        Assert.Equal("crl", Assert.Single(refusals.GetMeasurementSnapshot()).Tags["reason"]);
        Assert.Same(loaded, server.Store.Current);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(Whoami(server))).StatusCode);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => revokedClient.GetAsync(Whoami(server)));
        Assert.Same(loaded, server.Store.Current);
    }

    [Fact]
    public async Task An_older_crl_written_last_is_refused_so_a_revocation_is_never_undone()
    {
        using var pki = new TestPki();
        var volumes = Mount(pki, IssueServer(pki).Directory);
        await using var server = await StartServer(volumes);
        using var refusals = Collect(server.App.Services, "mtls.certificate.reload_failures");
        using var client = RawClient(pki.Authority.Issue(new LeafRequest("order")).Directory, pki);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(Whoami(server))).StatusCode);
        var before = CurrentCrls(pki); // what a publisher run that started before the revocation signed
        var generation = server.Store.Current.Generation;

        pki.Authority.RevokeService("order", X509RevocationReason.KeyCompromise);
        volumes.PublishCrl(CurrentCrls(pki));
        await Eventually.True(() => server.Store.Current.Generation > generation, "the server loaded the CRL with the revocation");
        var revoking = server.Store.Current;
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(Whoami(server)));

        volumes.PublishCrl(before); // that earlier run's write lands last

        await Eventually.True(() => server.Logs.GetSnapshot().Any(r => r.Level == LogLevel.Warning
            && r.Message.Contains("older than", StringComparison.Ordinal) && r.Message.Contains("in use", StringComparison.Ordinal)), "the older CRL is refused, saying why");
        Assert.Equal("crl", Assert.Single(refusals.GetMeasurementSnapshot()).Tags["reason"]);
        Assert.Same(revoking, server.Store.Current);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(Whoami(server)));
    }

    [Theory]
    [InlineData("Mtls:TrustBundleFile")]
    [InlineData("Mtls:CrlFile")]
    public async Task A_separate_file_whose_directory_does_not_exist_fails_the_start_naming_the_setting(string setting)
    {
        using var pki = new TestPki();
        var volumes = Mount(pki, IssueServer(pki).Directory);
        var settings = volumes.Settings((setting, "/nonexistent/configmap/file.pem"));

        var error = await Assert.ThrowsAnyAsync<Exception>(() => MtlsTestServer.StartAsync(volumes.Credentials.Path, Scenario.MapEndpoints, settings: settings));

        Assert.Contains($"{setting} '/nonexistent/configmap/file.pem': its directory '/nonexistent/configmap' does not exist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_trust_bundle_file_missing_at_start_fails_the_start_naming_the_setting_and_the_file()
    {
        using var pki = new TestPki();
        var volumes = Mount(pki, IssueServer(pki).Directory);
        var missing = volumes.Bundle.FileOf("roots.pem");

        var error = await Assert.ThrowsAnyAsync<Exception>(() => MtlsTestServer.StartAsync(volumes.Credentials.Path, Scenario.MapEndpoints,
            settings: volumes.Settings(("Mtls:TrustBundleFile", missing))));

        Assert.Contains($"Mtls:TrustBundleFile '{missing}'", error.Message, StringComparison.Ordinal);
        Assert.Contains($"Could not find file '{missing}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_reading_its_bundle_and_crl_from_separate_files_refuses_a_server_revoked_in_its_crl_file_only()
    {
        await using var scenario = await Scenario.StartAsync();
        var volumes = Mount(scenario.Pki, scenario.IssueClient("order"));
        await using var client = await MtlsTestClient.StartAsync(volumes.Credentials.Path, scenario.Server.Https, "payment", settings: volumes.Settings());
        Assert.Equal(HttpStatusCode.OK, (await client.Fresh().GetAsync("/api/whoami")).StatusCode);
        var generation = client.Store.Current.Generation;

        scenario.Pki.Authority.RevokeService("payment", X509RevocationReason.KeyCompromise);
        volumes.PublishCrl(CurrentCrls(scenario.Pki));

        await Eventually.True(() => client.Store.Current.Generation > generation, "the client loaded the new CRL");
        var error = await Assert.ThrowsAsync<MtlsHandshakeException>(() => client.Fresh().GetAsync("/api/whoami"));
        Assert.Equal(RejectionReason.Revoked, error.Reason);
        Assert.Contains("keyCompromise", error.Message, StringComparison.Ordinal);
    }
}
