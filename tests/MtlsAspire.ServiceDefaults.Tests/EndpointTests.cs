using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.ServiceDefaults.Telemetry;
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

    [Theory]
    [InlineData("/health")]
    [InlineData("/health/")]
    [InlineData("/HEALTH")]
    [InlineData("/HEALTH/")]
    [InlineData("/alive/")]
    [InlineData("/mtls/status/")]
    [InlineData("/Mtls/Status")]
    public async Task A_management_endpoint_however_its_path_is_spelt_is_served_on_the_plain_port_and_unknown_on_the_mtls_port(string path)
    {
        await using var scenario = await Scenario.StartAsync();
        using var plain = new HttpClient();
        using var mtls = scenario.RawClientFor(scenario.IssueClient("order"));

        // The plain port: GET and HEAD, as routing matches the path (any case, a trailing slash or not).
        Assert.Equal(HttpStatusCode.OK, (await plain.GetAsync(new Uri(scenario.Server.Http, path))).StatusCode);
        using var head = await plain.SendAsync(new HttpRequestMessage(HttpMethod.Head, new Uri(scenario.Server.Http, path)));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);

        // The mTLS port: exactly what a path no endpoint has gets, for a caller allowed everywhere else.
        var unknown = await Answer(mtls, new Uri(scenario.Server.Https, "/no-such-endpoint"));
        var management = await Answer(mtls, new Uri(scenario.Server.Https, path));
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Equal(unknown, management);
        Assert.Equal(HttpStatusCode.NotFound, (await mtls.SendAsync(new HttpRequestMessage(HttpMethod.Head, new Uri(scenario.Server.Https, path)))).StatusCode);
    }

    [Fact]
    public async Task The_plain_port_answers_405_to_other_methods_of_management_endpoints_and_404_to_everything_else()
    {
        await using var scenario = await Scenario.StartAsync();
        using var plain = new HttpClient();
        using var refusals = new MetricCollector<long>(scenario.Server.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            MtlsTelemetry.MeterName, "mtls.management.refusals");

        foreach (var path in new[] { "/health", "/alive/", "/mtls/status", "/Mtls/Status/" })
        {
            foreach (var method in new[] { HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, new HttpMethod("FOO123") })
            {
                using var response = await plain.SendAsync(new HttpRequestMessage(method, new Uri(scenario.Server.Http, path)));
                Assert.True(response.StatusCode == HttpStatusCode.MethodNotAllowed, $"{method} {path}: {(int)response.StatusCode}");
                Assert.Equal(["GET", "HEAD"], response.Content.Headers.Allow);
            }
        }

        foreach (var (method, path) in new[] { (HttpMethod.Get, "/api/whoami"), (HttpMethod.Post, "/api/whoami"), (HttpMethod.Get, "/api/open"),
            (HttpMethod.Delete, "/no-such-endpoint"), (HttpMethod.Head, "/healthz") })
        {
            using var response = await plain.SendAsync(new HttpRequestMessage(method, new Uri(scenario.Server.Http, path)));
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{method} {path}: {(int)response.StatusCode}");
        }

        // A path a peer makes long is cut in the log line.
        Assert.Equal(HttpStatusCode.NotFound, (await plain.GetAsync(new Uri(scenario.Server.Http, "/" + new string('a', 4000)))).StatusCode);
        var longest = PlainPortWarnings(scenario).Single(r => r.GetStructuredStateValue("Request")!.StartsWith("GET /aaa", StringComparison.Ordinal));
        Assert.Equal("GET /" + new string('a', 199) + "…", longest.GetStructuredStateValue("Request"));

        var counted = refusals.GetMeasurementSnapshot();
        Assert.Equal(16, counted.Count(m => (int?)m.Tags["http.response.status_code"] == 405));
        Assert.Equal(6, counted.Count(m => (int?)m.Tags["http.response.status_code"] == 404));
        Assert.Equal(4, counted.Count(m => (string?)m.Tags["http.request.method"] == "other"));
        // Nobody authenticates on the plain port: no 401 challenge, no authorization decision.
        Assert.DoesNotContain(scenario.Server.Logs.GetSnapshot(), r => r.Message.Contains("answered 401", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_flood_of_refused_requests_on_the_plain_port_logs_the_first_of_a_window_then_one_summary_and_counts_every_one()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow); // frozen: the window ends only when the test says
        await using var scenario = await Scenario.StartWithRefusalWindowAsync(clock);
        using var plain = new HttpClient();
        using var refusals = new MetricCollector<long>(scenario.Server.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            MtlsTelemetry.MeterName, "mtls.management.refusals");

        for (var i = 0; i < 25; i++)
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, (await plain.PostAsync(new Uri(scenario.Server.Http, "/mtls/status"), null)).StatusCode);
        }

        Assert.Equal(25, refusals.GetMeasurementSnapshot().Sum(m => m.Value));
        var warnings = PlainPortWarnings(scenario);
        Assert.Equal(3, warnings.Count);
        Assert.All(warnings, w => Assert.Contains("answered 405 on its plain management port to POST /mtls/status", w.Message, StringComparison.Ordinal));

        clock.Advance(TimeSpan.FromSeconds(10));

        await Eventually.True(() => PlainPortWarnings(scenario).Count == 4, "the summary of the window");
        var summary = PlainPortWarnings(scenario)[^1];
        Assert.Equal(LogLevel.Warning, summary.Level);
        Assert.Equal("22", summary.GetStructuredStateValue("Suppressed"));
        Assert.Contains("answered 405 on the plain management port", summary.Message, StringComparison.Ordinal);
        Assert.Contains("mtls.management.refusals counts every one", summary.Message, StringComparison.Ordinal);
        Assert.Equal("POST /mtls/status", summary.GetStructuredStateValue("Request"));
    }

    private static List<FakeLogRecord> PlainPortWarnings(Scenario scenario) =>
        [.. scenario.Server.Logs.GetSnapshot().Where(r => r.Level == LogLevel.Warning && r.Message.Contains("plain management port", StringComparison.Ordinal))];

    private static async Task<(HttpStatusCode Status, string? ContentType, long? Length, string Body)> Answer(HttpClient client, Uri uri)
    {
        using var response = await client.GetAsync(uri);
        return (response.StatusCode, response.Content.Headers.ContentType?.ToString(), response.Content.Headers.ContentLength,
            await response.Content.ReadAsStringAsync());
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
