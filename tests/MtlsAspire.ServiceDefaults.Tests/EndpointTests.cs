using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>The management endpoint, and what bad traffic on the mTLS port does (nothing lasting).</summary>
public class EndpointTests
{
    [Fact]
    public async Task Health_is_served_only_on_the_plain_management_port()
    {
        await using var scenario = await Scenario.StartAsync();
        using var plain = new HttpClient();
        using var mtls = scenario.RawClientFor(scenario.IssueClient("order"));

        var health = await plain.GetAsync(new Uri(scenario.Server.Http, "/health"));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("Healthy", await health.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await plain.GetAsync(new Uri(scenario.Server.Http, "/alive"))).StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await plain.GetAsync(new Uri(scenario.Server.Http, "/api/whoami"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await mtls.GetAsync(new Uri(scenario.Server.Https, "/health"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await mtls.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);
    }

    [Fact]
    public async Task Health_probes_write_no_information_logs_and_other_requests_still_do()
    {
        await using var scenario = await Scenario.StartAsync();
        using var plain = new HttpClient();
        using var mtls = scenario.RawClientFor(scenario.IssueClient("order"));

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await plain.GetAsync(new Uri(scenario.Server.Http, "/health"))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await plain.GetAsync(new Uri(scenario.Server.Http, "/alive"))).StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await mtls.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await mtls.GetAsync(new Uri(scenario.Server.Https, "/health"))).StatusCode);

        // Hosting logs "Request finished" after the response is sent: wait for the API request's.
        await Eventually.True(() => scenario.Server.Logs.GetSnapshot().Any(r => r.Message.StartsWith("Request finished", StringComparison.Ordinal)
            && r.Message.Contains("/api/whoami", StringComparison.Ordinal)), "the API request's request-finished log");
        var logs = scenario.Server.Logs.GetSnapshot();
        Assert.DoesNotContain(logs, r => r.Level <= LogLevel.Information && (r.Message.Contains(scenario.Server.Http.Authority + "/health", StringComparison.Ordinal)
            || r.Message.Contains(scenario.Server.Http.Authority + "/alive", StringComparison.Ordinal) || r.Message.Contains("'Health checks'", StringComparison.Ordinal)));
        Assert.Contains(logs, r => r.Message.StartsWith("Request starting", StringComparison.Ordinal) && r.Message.Contains("/api/whoami", StringComparison.Ordinal));
        Assert.Contains(logs, r => r.Message.StartsWith("Executing endpoint", StringComparison.Ordinal) && r.Message.Contains("/api/whoami", StringComparison.Ordinal));
        // A /health request on the mTLS port is not a probe: it stays in the logs.
        Assert.Contains(logs, r => r.Message.StartsWith("Request starting", StringComparison.Ordinal)
            && r.Message.Contains(scenario.Server.Https.Authority + "/health", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Garbage_bytes_and_plain_http_on_the_mtls_port_leave_the_server_serving()
    {
        await using var scenario = await Scenario.StartAsync();
        using var mtls = scenario.RawClientFor(scenario.IssueClient("order"));

        foreach (var payload in new[] { "\u0016\u0003\u0001garbage that is not a TLS record\r\n\r\n", "GET /api/whoami HTTP/1.1\r\nHost: localhost\r\n\r\n", new string('\0', 4096) })
        {
            using var socket = new TcpClient();
            await socket.ConnectAsync(IPAddress.Loopback, scenario.Server.Https.Port);
            var stream = socket.GetStream();
            await stream.WriteAsync(Encoding.Latin1.GetBytes(payload));
            var buffer = new byte[1024];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            // The server answers with an alert or closes: either way the read ends.
            while (await stream.ReadAsync(buffer, timeout.Token) > 0)
            {
            }
        }

        Assert.Equal(HttpStatusCode.OK, (await mtls.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_handshake_that_never_comes_or_trickles_in_is_cut_at_the_handshake_timeout_while_others_are_served(bool trickle)
    {
        await using var scenario = await Scenario.StartAsync(settings: new Dictionary<string, string?> { ["Mtls:HandshakeTimeout"] = "00:00:01" });
        using var mtls = scenario.RawClientFor(scenario.IssueClient("order"));
        using var socket = new TcpClient();
        await socket.ConnectAsync(IPAddress.Loopback, scenario.Server.Https.Port);
        var stream = socket.GetStream();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var closed = ReadUntilClosedAsync(stream, deadline.Token);
        if (trickle)
        {
            // A handshake record announced as 512 bytes, then one byte of it every 100 ms (slowloris): the server never has
            // a whole record to refuse, so only the timeout can end it.
            await stream.WriteAsync(new byte[] { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 }, deadline.Token);
            using var ticks = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
            while (!closed.IsCompleted && await ticks.WaitForNextTickAsync(deadline.Token))
            {
                try
                {
                    await stream.WriteAsync(new byte[] { 0x01 }, deadline.Token);
                }
                catch (IOException)
                {
                    break; // closed by the server
                }
            }
        }

        // Others are served meanwhile.
        Assert.Equal(HttpStatusCode.OK, (await mtls.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode);
        await closed; // throws OperationCanceledException if the server never cut it
    }

    private static async Task ReadUntilClosedAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[1024];
        try
        {
            while (await stream.ReadAsync(buffer, cancellationToken) > 0)
            {
            }
        }
        catch (IOException)
        {
            // reset by the server: closed too
        }
    }
}
