using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit.Abstractions;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Cli;
using MtlsAspire.CertBootstrap.Doctor;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Tests;

/// <summary>Every failure <c>doctor</c> names, produced for real: a Kestrel on loopback and certificates from the project's CA.</summary>
public sealed class DoctorTests(ITestOutputHelper log) : IDisposable
{
    private readonly TestPki _pki = new();
    private readonly List<TestPki> _others = [];

    public void Dispose()
    {
        foreach (var other in _others)
        {
            other.Dispose();
        }

        _pki.Dispose();
    }

    private DateTimeOffset Now => _pki.Time.GetUtcNow();

    private static string Service(TestPki pki, string service, Func<LeafRequest, LeafRequest>? change = null) =>
        pki.Authority.Issue((change ?? (r => r))(new LeafRequest(service))).Directory;

    private string Service(string service, Func<LeafRequest, LeafRequest>? change = null) => Service(_pki, service, change);

    private TestPki Rogue()
    {
        var rogue = new TestPki();
        _others.Add(rogue);
        return rogue;
    }

    private async Task<(int Exit, string Output, string Error)> Doctor(params string[] args)
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60)); // a hang fails the test instead of the run
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await CertBootstrapCli.RunAsync(["doctor", .. args], output, error, _pki.Time, stop.Token);
        var text = output.ToString();
        log.WriteLine($"$ doctor {string.Join(' ', args)}\n{text}{error}");
        Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
        return (exit, text, error.ToString());
    }

    private static void AssertVerdict(DoctorOutcome outcome, (int Exit, string Output, string Error) result, params string[] expected)
    {
        Assert.True((int)outcome == result.Exit, $"exit {result.Exit}, expected {(int)outcome}:\n{result.Output}{result.Error}");
        var verdict = result.Output.TrimEnd('\n').Split('\n')[^1];
        Assert.StartsWith(outcome == DoctorOutcome.Ok ? "OK: " : $"{(outcome == DoctorOutcome.ClientCertificateNotRequested ? "WARN" : "FAIL")} {DoctorReport.Name(outcome)} (exit {(int)outcome}): ", verdict, StringComparison.Ordinal);
        foreach (var text in expected)
        {
            Assert.Contains(text, result.Output, StringComparison.Ordinal);
        }
    }

    private static X509Certificate2 LeafOf(string directory) => Pem.ReadCertificates(new CredentialDirectory(directory).Read().CertificatePem, directory)[0];

    private static string U(DateTime time) => time.ToUniversalTime().ToString("u", CultureInfo.InvariantCulture);

    private string NowText => U(Now.UtcDateTime);

    [Fact]
    public async Task Doctor_says_ok_with_the_protocol_the_server_identity_and_the_status()
    {
        await using var server = await DoctorTestServer.StartAsync(Service("inventory"));

        var result = await Doctor(server.Url("/api/nothing-here").ToString(), "--as", Service("order"));

        AssertVerdict(DoctorOutcome.Ok, result, "OK: handshake TLS 1.3, server is spiffe://mtls-aspire.local/ns/development/sa/inventory, GET /api/nothing-here → 404",
            "the server asked for a client certificate; we sent ours with 1 intermediate(s)", "clock      server (Date header)");
    }

    [Fact]
    public async Task Doctor_with_a_bundle_needs_only_tls_crt_and_tls_key_in_the_identity_directory()
    {
        await using var server = await DoctorTestServer.StartAsync(Service("inventory"));
        var keyPair = Path.Combine(_pki.Directory, "order-key-pair");
        Directory.CreateDirectory(keyPair);
        var files = new CredentialDirectory(Service("order")).Read();
        File.WriteAllText(Path.Combine(keyPair, CredentialFiles.CertificateFileName), files.CertificatePem);
        File.WriteAllText(Path.Combine(keyPair, CredentialFiles.KeyFileName), files.KeyPem);
        var bundle = Path.Combine(_pki.Directory, "trust.pem"); // no crl.pem beside it
        File.WriteAllText(bundle, files.BundlePem);

        var result = await Doctor(server.Url("/api/nothing-here").ToString(), "--as", keyPair, "--bundle", bundle);

        AssertVerdict(DoctorOutcome.Ok, result, "OK: handshake TLS 1.3, server is spiffe://mtls-aspire.local/ns/development/sa/inventory",
            "as spiffe://mtls-aspire.local/ns/development/sa/order", $"trust      {bundle}");
    }

    [Fact]
    public async Task Doctor_cannot_connect_when_nothing_listens()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var result = await Doctor($"https://127.0.0.1:{port}/", "--as", Service("order"));

        AssertVerdict(DoctorOutcome.CannotConnect, result, $"nothing listens on 127.0.0.1:{port} (connection refused)");
    }

    [Fact]
    public async Task Doctor_offering_tls12_to_a_tls13_only_server_reports_a_version_mismatch_and_what_the_server_accepts()
    {
        await using var server = await DoctorTestServer.StartAsync(Service("inventory"), new DoctorServerSetup { Protocols = SslProtocols.Tls13 });

        var result = await Doctor(server.Url().ToString(), "--as", Service("order"), "--tls", "1.2");

        AssertVerdict(DoctorOutcome.TlsVersionMismatch, result, "we offered TLS 1.2", "before any certificate", "it accepts TLS 1.3 (probed)");
    }

    [Fact]
    public async Task Doctor_refuses_a_server_from_a_ca_outside_the_bundle_and_names_issuer_and_roots()
    {
        var rogue = Rogue();
        await using var server = await DoctorTestServer.StartAsync(Service(rogue, "inventory"));
        var order = Service("order");

        var result = await Doctor(server.Url().ToString(), "--as", order);

        var rogueRoot = rogue.Init.Root.Subject;
        AssertVerdict(DoctorOutcome.ServerUnknownCa, result, "client side (doctor) refused the server's certificate: unknown CA",
            rogueRoot, $"our bundle holds '{_pki.Init.Root.Subject}'", $"issued by '{rogue.Init.Intermediate.Subject}'");
    }

    [Fact]
    public async Task Doctor_refuses_a_server_claiming_our_id_under_a_root_bound_to_another_trust_domain()
    {
        // The bundle trusts a partner's root (and its CRL), so the server's chain builds; but that root is bound to
        // partner.example, and the server claims one of our IDs: our services refuse it, and so does the doctor.
        using var forged = ForgedChain.Create(Path.Combine(_pki.Directory, "forged"), Now, "spiffe://mtls-aspire.local/ns/development/sa/inventory", "partner.example");
        await using var server = await DoctorTestServer.StartAsync(forged.Directory);
        var order = Service("order");
        var bundle = Path.Combine(_pki.Directory, "bundle.crt");
        var crl = Path.Combine(_pki.Directory, "bundle-crl.pem");
        await File.WriteAllTextAsync(bundle, await File.ReadAllTextAsync(Path.Combine(order, "ca.crt")) + forged.Root.ExportCertificatePem() + "\n");
        await File.WriteAllTextAsync(crl, await File.ReadAllTextAsync(Path.Combine(order, "crl.pem")) + forged.CrlPem + "\n");

        var result = await Doctor(server.Url().ToString(), "--as", order, "--bundle", bundle, "--crl", crl);

        AssertVerdict(DoctorOutcome.ServerCertificateInvalid, result, "client side (doctor) refused the server's certificate: trust-domain-mismatch",
            "claims spiffe://mtls-aspire.local/ns/development/sa/inventory", "spiffe://partner.example");
    }

    [Fact]
    public async Task Doctor_reports_an_incomplete_server_chain_naming_the_missing_intermediate()
    {
        await using var server = await DoctorTestServer.StartAsync(Service("inventory"), new DoctorServerSetup { SendChain = false });

        var result = await Doctor(server.Url().ToString(), "--as", Service("order"));

        AssertVerdict(DoctorOutcome.ServerChainIncomplete, result, "incomplete chain", $"the issuer '{_pki.Init.Intermediate.Subject}'", "the server sent only its leaf");
    }

    [Fact]
    public async Task Doctor_reports_an_expired_server_certificate_with_its_notafter_and_our_clock()
    {
        var inventory = Service("inventory", r => r with { ValidFrom = Now.AddDays(-2), Lifetime = TimeSpan.FromHours(1) });
        await using var server = await DoctorTestServer.StartAsync(inventory);

        var result = await Doctor(server.Url().ToString(), "--as", Service("order"));

        AssertVerdict(DoctorOutcome.ServerCertificateExpired, result, "expired: notAfter " + U(LeafOf(inventory).NotAfter), "now " + NowText, "this machine's clock: " + NowText);
    }

    [Fact]
    public async Task Doctor_reports_a_not_yet_valid_server_certificate_with_both_times_and_the_difference()
    {
        var inventory = Service("inventory", r => r with { ValidFrom = Now.AddDays(2) });
        await using var server = await DoctorTestServer.StartAsync(inventory);

        var result = await Doctor(server.Url().ToString(), "--as", Service("order"));

        AssertVerdict(DoctorOutcome.ServerCertificateNotYetValid, result, "is not valid yet: notBefore " + U(LeafOf(inventory).NotBefore), "now " + NowText, "1d 23h early", "this machine's clock is behind");
    }

    [Fact]
    public async Task Doctor_refuses_a_server_certificate_without_serverAuth()
    {
        var inventory = Service("inventory", r => r with { ExtendedKeyUsages = [CertificateFacts.ClientAuthOid] });
        await using var server = await DoctorTestServer.StartAsync(inventory);

        var result = await Doctor(server.Url().ToString(), "--as", Service("order"));

        AssertVerdict(DoctorOutcome.ServerCertificateLacksServerAuth, result, "lacks the required extended key usage (serverAuth); it has clientAuth");
    }

    [Fact]
    public async Task Doctor_reports_a_host_that_is_not_among_the_server_certificates_sans()
    {
        var inventory = Service("inventory", r => r with { DnsNames = ["inventory.example"], IPAddresses = [IPAddress.Parse("10.1.2.3")] });
        await using var server = await DoctorTestServer.StartAsync(inventory);

        var result = await Doctor(server.Url().ToString(), "--as", Service("order"));

        AssertVerdict(DoctorOutcome.HostMismatch, result, "host/SAN mismatch: we asked for 'localhost', the certificate names DNS:inventory.example, IP:10.1.2.3");
    }

    [Fact]
    public async Task Doctor_refuses_a_revoked_server_certificate_per_the_crl_beside_the_bundle()
    {
        var (result, order) = await DoctorAfterRevoking("inventory");

        AssertVerdict(DoctorOutcome.ServerCertificateRevoked, result, "is revoked since", "reason keyCompromise", $"CRL {Path.Combine(order, "crl.pem")}");
    }

    /// <summary>Issues inventory (the server) and order (the doctor's identity), revokes one of them, and runs the doctor as order.</summary>
    private async Task<((int Exit, string Output, string Error) Result, string Order)> DoctorAfterRevoking(string revoked)
    {
        var inventory = Service("inventory");
        var order = Service("order");
        _pki.Authority.RevokeService(revoked, X509RevocationReason.KeyCompromise);
        await using var server = await DoctorTestServer.StartAsync(inventory);
        return (await Doctor(server.Url().ToString(), "--as", order), order);
    }

    [Theory]
    [InlineData("1.2")]
    [InlineData("1.3")]
    public async Task Doctor_explains_that_the_server_refused_our_expired_certificate_with_both_times(string tls)
    {
        await using var server = await DoctorTestServer.StartAsync(Service("inventory"));
        var order = Service("order", r => r with { ValidFrom = Now.AddDays(-2), Lifetime = TimeSpan.FromHours(1) });

        var result = await Doctor(server.Url().ToString(), "--as", order, "--tls", tls);

        AssertVerdict(DoctorOutcome.ClientCertificateRefused, result, "server refused our certificate", "our certificate 'CN=order",
            "expired: notAfter " + U(LeafOf(order).NotAfter), "now " + NowText);
    }

    [Fact]
    public async Task Doctor_explains_that_the_server_refused_our_not_yet_valid_certificate_with_both_times()
    {
        await using var server = await DoctorTestServer.StartAsync(Service("inventory"));
        var order = Service("order", r => r with { ValidFrom = Now.AddHours(3) });

        var result = await Doctor(server.Url().ToString(), "--as", order);

        AssertVerdict(DoctorOutcome.ClientCertificateRefused, result, "server refused our certificate", "is not valid yet: notBefore " + U(LeafOf(order).NotBefore), "now " + NowText);
    }

    [Fact]
    public async Task Doctor_explains_that_the_server_refused_our_certificate_without_clientAuth()
    {
        await using var server = await DoctorTestServer.StartAsync(Service("inventory"));
        var order = Service("order", r => r with { ExtendedKeyUsages = [CertificateFacts.ServerAuthOid] });

        var result = await Doctor(server.Url().ToString(), "--as", order);

        AssertVerdict(DoctorOutcome.ClientCertificateRefused, result, "server refused our certificate", "lacks the required extended key usage (clientAuth); it has serverAuth");
    }

    [Fact]
    public async Task Doctor_explains_that_the_server_refused_our_chain_when_tls_crt_has_no_intermediate()
    {
        await using var server = await DoctorTestServer.StartAsync(Service("inventory"));
        var order = new CredentialDirectory(Service("order")).Read();
        var leafOnly = Path.Combine(_pki.Directory, "order-leaf-only");
        Directory.CreateDirectory(leafOnly);
        await File.WriteAllTextAsync(Path.Combine(leafOnly, "tls.crt"), Pem.Certificates([Pem.ReadCertificates(order.CertificatePem, "tls.crt")[0]]));
        await File.WriteAllTextAsync(Path.Combine(leafOnly, "tls.key"), order.KeyPem);
        await File.WriteAllTextAsync(Path.Combine(leafOnly, "ca.crt"), order.BundlePem);
        await File.WriteAllTextAsync(Path.Combine(leafOnly, "crl.pem"), order.CrlPem);

        var result = await Doctor(server.Url().ToString(), "--as", leafOnly);

        AssertVerdict(DoctorOutcome.ClientCertificateRefused, result, "server refused our certificate",
            $"our chain is incomplete: tls.crt holds only the leaf, without its intermediate ('{_pki.Init.Intermediate.Subject}')");
    }

    [Fact]
    public async Task Doctor_explains_that_the_server_refused_our_revoked_certificate_per_our_crl()
    {
        var (result, order) = await DoctorAfterRevoking("order");

        AssertVerdict(DoctorOutcome.ClientCertificateRefused, result, "server refused our certificate", "is revoked since", "reason keyCompromise", $"per our crl.pem {Path.Combine(order, "crl.pem")}");
    }

    [Fact]
    public async Task Doctor_explains_that_our_certificate_is_not_from_the_servers_ca_using_its_acceptable_issuers()
    {
        var rogue = Rogue();
        await using var server = await DoctorTestServer.StartAsync(Service("inventory"), new DoctorServerSetup { SendAcceptableIssuers = true });
        var rogueOrder = Service(rogue, "order");

        var result = await Doctor(server.Url().ToString(), "--as", rogueOrder, "--bundle", Path.Combine(_pki.PkiDirectory, "ca.crt"));

        AssertVerdict(DoctorOutcome.ClientCertificateRefused, result, "server refused our certificate", "it is not from the server's CA",
            $"the server accepts certificates issued by '{_pki.Init.Root.Subject}'", $"ours is issued by '{rogue.Init.Intermediate.Subject}'");
    }

    [Theory]
    [InlineData("1.2")]
    [InlineData("1.3")]
    public async Task Doctor_without_an_identity_says_the_server_requires_a_client_certificate(string tls)
    {
        await using var server = await DoctorTestServer.StartAsync(Service("inventory"));

        var result = await Doctor(server.Url().ToString(), "--bundle", Path.Combine(_pki.PkiDirectory, "ca.crt"), "--tls", tls);

        AssertVerdict(DoctorOutcome.ClientCertificateRequired, result, "the server requires a client certificate but none was given (no --as)");
    }

    [Fact]
    public async Task Doctor_warns_when_the_server_does_not_ask_for_our_certificate()
    {
        await using var server = await DoctorTestServer.StartAsync(Service("inventory"), new DoctorServerSetup { RequireClientCertificate = false });

        var result = await Doctor(server.Url().ToString(), "--as", Service("order"));

        AssertVerdict(DoctorOutcome.ClientCertificateNotRequested, result, "the server did not ask for a client certificate, so ours (spiffe://mtls-aspire.local/ns/development/sa/order) was not sent");
    }

    [Fact]
    public async Task Doctor_reports_403_with_the_reason_the_server_gives()
    {
        var setup = new DoctorServerSetup
        {
            Map = app => app.MapGet("/api/admin", (HttpContext http) => Results.Problem(statusCode: 403,
                detail: $"{http.Connection.ClientCertificate!.GetSpiffeId(out _)} may not call GET /api/admin: allowed are spiffe://mtls-aspire.local/ns/development/sa/admin")),
        };
        await using var server = await DoctorTestServer.StartAsync(Service("inventory"), setup);

        var result = await Doctor(server.Url("/api/admin").ToString(), "--as", Service("order"));

        AssertVerdict(DoctorOutcome.Forbidden, result, "GET /api/admin → 403: the handshake is fine, but spiffe://mtls-aspire.local/ns/development/sa/order may not call it",
            "may not call it: spiffe://mtls-aspire.local/ns/development/sa/order may not call GET /api/admin: allowed are spiffe://mtls-aspire.local/ns/development/sa/admin");
    }

    [Fact]
    public async Task Doctor_reports_401_when_the_server_sees_no_identity()
    {
        var setup = new DoctorServerSetup
        {
            RequireClientCertificate = false,
            Map = app => app.MapGet("/api/me", (HttpContext http) =>
            {
                http.Response.Headers.WWWAuthenticate = "Certificate";
                return Results.Problem(statusCode: 401, detail: "no client certificate");
            }),
        };
        await using var server = await DoctorTestServer.StartAsync(Service("inventory"), setup);

        var result = await Doctor(server.Url("/api/me").ToString(), "--bundle", Path.Combine(_pki.PkiDirectory, "ca.crt"));

        AssertVerdict(DoctorOutcome.Unauthenticated, result, "GET /api/me → 401: the server saw no valid identity (we presented none: no --as): no client certificate (WWW-Authenticate: Certificate)");
    }

    [Fact]
    public async Task Doctor_command_line_mistakes_exit_2()
    {
        Assert.Equal(CertBootstrapCli.Usage, (await Doctor("https://localhost:1/")).Exit);
        Assert.Equal(CertBootstrapCli.Usage, (await Doctor("http://localhost:1/", "--bundle", "ca.crt")).Exit);
        Assert.Equal(CertBootstrapCli.Usage, (await Doctor("https://localhost:1/", "--bundle", "ca.crt", "--tls", "1.1")).Exit);
        var missing = await Doctor("https://localhost:1/", "--as", Path.Combine(_pki.Directory, "nobody"));
        Assert.Equal(CertBootstrapCli.Failed, missing.Exit);
        Assert.Contains("is not a credential directory", missing.Error, StringComparison.Ordinal);
    }
}
