using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Tests;
using MtlsAspire.LegacyProxy;
using MtlsAspire.ServiceDefaults.Authorization;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.ServiceDefaults.Tests.LegacyProxy;

/// <summary>
/// legacy-proxy's pipeline (ServiceDefaults' mTLS, the caller rule, YARP) over real TLS, in front of a stand-in ledger
/// on a Unix socket that records the headers it is sent.
/// </summary>
public class LegacyLedgerProxyTests
{
    private static readonly string[] s_forwardedHeaders = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Prefix", "Forwarded"];

    [Fact]
    public async Task The_ledger_gets_the_callers_verified_client_cert_on_every_stream_and_no_other_forwarded_header()
    {
        using var pki = new TestPki();
        pki.Authority.Issue(new LeafRequest("legacy-proxy") { DnsNames = ["localhost"], IPAddresses = [IPAddress.Loopback] });
        var socket = Path.Combine(pki.Directory, "ledger.sock");
        var seen = new ConcurrentQueue<IHeaderDictionary>();
        await using var ledger = await StartLedgerAsync(socket, seen);
        await using var proxy = await StartProxyAsync(pki.Authority.Layout.ServiceDirectory("legacy-proxy"), socket);
        var proxyIdentity = proxy.Services.GetRequiredService<MtlsCredentialStore>().Current.Identity;
        var roots = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection(
            Pem.ReadCertificates(File.ReadAllText(pki.Authority.Layout.BundleFile), "ca.crt").ToArray());
        var url = new Uri($"{proxy.Urls.Single(u => u.StartsWith("https://", StringComparison.Ordinal)).Replace("127.0.0.1", "localhost", StringComparison.Ordinal)}/api/ledger/ping");

        // Two payment leaves, each on its own HTTP/2 connection carrying concurrent streams: every stream must get the
        // value of its own connection's certificate, and none a copy a client made up.
        foreach (var leaf in new[] { pki.Authority.Issue(new LeafRequest("payment")), pki.Authority.Issue(new LeafRequest("payment")) })
        {
            var credentials = ServiceCredentials.Load(new CredentialDirectory(leaf.Directory));
            using var client = RawTlsClient.Create(credentials.Leaf, credentials.Intermediates, roots, configure: handler =>
            {
                handler.PooledConnectionLifetime = Timeout.InfiniteTimeSpan;
                handler.EnableMultipleHttp2Connections = false;
            });
            client.DefaultRequestVersion = HttpVersion.Version20;
            client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
            var before = seen.Count;
            var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                request.Headers.TryAddWithoutValidation(LegacyLedgerProxy.HeaderName, "By=spiffe://evil/x;URI=spiffe://mtls-aspire.local/ns/development/sa/order");
                request.Headers.TryAddWithoutValidation("X-Forwarded-For", "203.0.113.9");
                request.Headers.TryAddWithoutValidation("X-Forwarded-Host", "evil.example");
                request.Headers.TryAddWithoutValidation("X-Forwarded-Proto", "http");
                request.Headers.TryAddWithoutValidation("X-Forwarded-Prefix", "/evil");
                using var response = await client.SendAsync(request);
                return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
            }));

            Assert.All(answers, answer => Assert.Equal((HttpStatusCode.OK, "pong"), answer));
            var expected = $"By={proxyIdentity};Hash={Convert.ToHexStringLower(SHA256.HashData(credentials.Leaf.RawData))};" +
                $"URI=spiffe://mtls-aspire.local/ns/development/sa/payment";
            var headers = seen.Skip(before).ToList();
            Assert.Equal(20, headers.Count);
            Assert.All(headers, h =>
            {
                Assert.Equal(expected, h[LegacyLedgerProxy.HeaderName].ToString());
                Assert.All(s_forwardedHeaders, name => Assert.False(h.ContainsKey(name), $"the ledger was sent {name}: {h[name]}"));
            });
        }
    }

    private static async Task<WebApplication> StartLedgerAsync(string socket, ConcurrentQueue<IHeaderDictionary> seen)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenUnixSocket(socket));
        var app = builder.Build();
        app.MapGet("/api/ledger/ping", (HttpContext context) =>
        {
            seen.Enqueue(new HeaderDictionary(context.Request.Headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.OrdinalIgnoreCase)));
            return "pong";
        });
        await app.StartAsync();
        return app;
    }

    private static async Task<WebApplication> StartProxyAsync(string credentialsDirectory, string socket)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Development", ApplicationName = "legacy-proxy-test" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["urls"] = "https://127.0.0.1:0;http://127.0.0.1:0",
            ["Mtls:CredentialsDirectory"] = credentialsDirectory,
            ["Mtls:Authorization:ReferencedBy:0"] = "payment",
            ["LegacyLedger:Socket"] = socket,
        });
        builder.Logging.ClearProviders();
        builder.AddServiceDefaults();
        builder.AddMtlsServer();
        builder.AddLegacyLedgerProxy();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapReverseProxy(proxy => proxy.UseLegacyLedgerPipeline()).RequireReferencingCallers();
        await app.StartAsync();
        return app;
    }
}
