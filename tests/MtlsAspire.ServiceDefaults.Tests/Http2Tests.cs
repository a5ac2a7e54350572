using System.Net;
using System.Net.Http.Json;
using MtlsAspire.Verification.Storage;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// One HTTP/2 connection carries many streams at once, all sharing the connection's state: the generation that last
/// accepted its client certificate, and what a refusal does to the connection.
/// </summary>
public class Http2Tests
{
    private const int Streams = 200;

    /// <summary>An HTTP/2-only client presenting the leaf in <paramref name="directory"/>, on one connection at most; counts the TCP connections it opens.</summary>
    private static HttpClient Http2Client(Scenario scenario, string directory, Func<int> onConnect) =>
        KeepAliveClient.Create(scenario, directory, HttpVersion.Version20, _ => onConnect());

    [Fact]
    public async Task Two_hundred_concurrent_streams_on_one_http2_connection_each_get_the_callers_identity_while_the_credentials_change()
    {
        await using var scenario = await Scenario.StartAsync();
        var directory = scenario.IssueClient("order");
        var serial = ServiceCredentials.Load(new CredentialDirectory(directory)).Leaf.SerialNumber;
        var connections = 0;
        using var client = Http2Client(scenario, directory, () => Interlocked.Increment(ref connections));
        var url = new Uri(scenario.Server.Https, "/api/whoami");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(url)).StatusCode);

        // A new generation: every stream below finds the connection judged by an older one, so each judges it again.
        await scenario.UpdateServerFilesAsync(files => files);
        using var start = new SemaphoreSlim(0);
        var requests = Enumerable.Range(0, Streams).Select(async _ =>
        {
            await start.WaitAsync();
            using var response = await client.GetAsync(url);
            return (response.StatusCode, response.Version, Caller: await response.Content.ReadFromJsonAsync<Scenario.Caller>());
        }).ToList();
        start.Release(Streams);
        var results = await Task.WhenAll(requests);

        Assert.All(results, result =>
        {
            Assert.Equal(HttpStatusCode.OK, result.StatusCode);
            Assert.Equal(HttpVersion.Version20, result.Version);
            Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/order", result.Caller!.SpiffeId);
            Assert.Equal(serial, result.Caller.Serial);
        });
        Assert.Equal(1, Volatile.Read(ref connections));
    }

    [Fact]
    public async Task A_client_revoked_while_connected_over_http2_loses_the_connection_not_only_the_stream()
    {
        await using var scenario = await Scenario.StartAsync();
        var directory = scenario.PlainCopyOf(scenario.IssueClient("order"));
        var connections = 0;
        using var client = Http2Client(scenario, directory, () => Interlocked.Increment(ref connections));
        var url = new Uri(scenario.Server.Https, "/api/whoami");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(url)).StatusCode);

        var generation = scenario.Server.Store.Current.Generation;
        scenario.Pki.Authority.RevokeService("order", System.Security.Cryptography.X509Certificates.X509RevocationReason.KeyCompromise);
        await Eventually.True(() => scenario.Server.Store.Current.Generation > generation, "the server loaded the new CRL");

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(url));
        // The next request finds no connection to reuse: the server closed it, and the new handshake is refused too.
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(url));
        Assert.True(Volatile.Read(ref connections) >= 2, $"the revoked client's HTTP/2 connection stayed open ({connections} connection(s) opened)");
    }
}
