using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// A connection's verdict holds until the earliest of the peer's notAfter, the CRL's nextUpdate and the next credential
/// generation. A peer whose certificate expires, or whose CRL goes stale, while its connection is open is refused on its
/// next request over that very connection (HTTP/1.1 keep-alive and HTTP/2), with the Warning a refused handshake gets.
/// Over real TLS; the server's clock is fake.
/// </summary>
public class OpenConnectionTests
{
    public static TheoryData<string> Versions => ["1.1", "2.0"];

    [Theory]
    [MemberData(nameof(Versions))]
    public async Task An_open_connection_whose_crl_goes_stale_is_refused_on_its_next_request(string version)
    {
        // The CRLs CertBootstrap signs are valid for 1 h; nobody publishes a new one here.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scenario = await Scenario.StartAsync(serverTime: clock);
        var directory = scenario.Pki.Authority.Issue(new LeafRequest("order") { Lifetime = TimeSpan.FromHours(24) }).Directory;

        var intermediate = scenario.Server.Store.Current.Leaf.Issuer;
        await AssertRefusedOnItsOpenConnection(scenario, directory, Version.Parse(version), () => clock.Advance(TimeSpan.FromHours(2)),
            "crl-unavailable", $"the CRL of '{intermediate}' is stale");
    }

    [Theory]
    [MemberData(nameof(Versions))]
    public async Task A_peer_whose_certificate_expires_while_connected_is_refused_on_its_next_request(string version)
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scenario = await Scenario.StartAsync(serverTime: clock);
        // Expires well before the CRL (1 h) goes stale: the refusal is for the certificate.
        var directory = scenario.Pki.Authority.Issue(new LeafRequest("order") { Lifetime = TimeSpan.FromMinutes(10) }).Directory;

        await AssertRefusedOnItsOpenConnection(scenario, directory, Version.Parse(version), () => clock.Advance(TimeSpan.FromMinutes(20)),
            "expired", "expired: notAfter");
    }

    private static async Task AssertRefusedOnItsOpenConnection(Scenario scenario, string directory, Version version, Action timePasses,
        string reason, string detail)
    {
        var ports = new ConcurrentQueue<int>();
        using var client = KeepAliveClient.Create(scenario, directory, version, ports.Enqueue);
        var url = new Uri(scenario.Server.Https, "/api/whoami");
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.GetAsync(url);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(version, response.Version);
        }

        var open = Assert.Single(ports); // every request so far on one connection
        timePasses();

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(url));

        // The refusal names the open connection's own address: it was judged again, not only a new handshake refused.
        FakeLogRecord? refusal = null;
        await Eventually.True(() => (refusal = scenario.Server.Logs.GetSnapshot().FirstOrDefault(r => r.Level == LogLevel.Warning
            && (string?)r.GetStructuredStateValue("PeerAddress") == $"127.0.0.1:{open}")) is not null,
            "the server logged the refusal of the open connection");
        Assert.Equal(reason, refusal!.GetStructuredStateValue("Reason"));
        Assert.Contains(detail, refusal.Message, StringComparison.Ordinal);
        Assert.Contains("refused the client certificate", refusal.Message, StringComparison.Ordinal);
    }
}
