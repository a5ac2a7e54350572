using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Options;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Tests;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// Runs alone: sampling is decided by every activity listener of the process together (the highest wins), and other
/// tests' span recorders would record what these expect the sampler to drop.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TraceSamplingGroup
{
    public const string Name = "trace sampling";
}

/// <summary>Mtls:Telemetry:TraceSampleRatio: parent-based, refusals always traced.</summary>
[Collection(TraceSamplingGroup.Name)]
public class TraceSamplingTests
{
    private const string AspNetCore = "Microsoft.AspNetCore";

    [Fact]
    public async Task At_ratio_zero_a_refused_handshake_is_traced_and_a_request_only_when_its_caller_sampled_it()
    {
        var exported = new ExportedTelemetry();
        await using var scenario = await Scenario.StartAsync(settings: new Dictionary<string, string?> { ["Mtls:Telemetry:TraceSampleRatio"] = "0" },
            configure: exported.AddTo);

        using var serverAuthOnly = CertificateForge.Leaf(scenario.Pki, "spiffe://mtls-aspire.local/ns/development/sa/order", CertificateForge.ServerAuthOnly);
        using var intermediate = CertificateForge.Intermediate(scenario.Pki);
        using (var refused = RawTlsClient.Create(serverAuthOnly, [intermediate], scenario.TrustedRoots))
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => refused.GetAsync(new Uri(scenario.Server.Https, "/api/whoami")));
        }

        await Eventually.True(() => exported.Spans.Any(s => s.OperationName == MtlsTelemetry.HandshakeActivityName
            && (string?)s.GetTagItem("mtls.peer.serial") == serverAuthOnly.SerialNumber), "the refused handshake's span, exported at ratio 0");

        // One keep-alive connection: each request's server span ends before the next request is read.
        using var client = scenario.RawClientFor(scenario.IssueClient("order"), configure: handler => handler.MaxConnectionsPerServer = 1);
        var notSampled = ActivityTraceId.CreateRandom();
        var sampled = ActivityTraceId.CreateRandom();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"))).StatusCode); // a new trace: ratio 0
        Assert.Equal(HttpStatusCode.OK, await GetInTraceAsync(client, new Uri(scenario.Server.Https, "/api/whoami"), notSampled, sampledFlag: false));
        Assert.Equal(HttpStatusCode.OK, await GetInTraceAsync(client, new Uri(scenario.Server.Https, "/api/whoami"), sampled, sampledFlag: true));

        await Eventually.True(() => exported.Spans.Any(s => s.Source.Name == AspNetCore && s.TraceId == sampled), "the server span of the sampled caller's request");
        var requests = exported.Spans.Where(s => s.Source.Name == AspNetCore).ToList();
        Assert.Single(requests); // not the new trace, not the caller's unsampled one
        Assert.Equal(sampled, requests[0].TraceId);
    }

    [Fact]
    public async Task An_orders_trace_is_exported_whole_or_not_at_all()
    {
        var exported = new ExportedTelemetry();
        var half = new Dictionary<string, string?> { ["Mtls:Telemetry:TraceSampleRatio"] = "0.5" };
        await using var scenario = await Scenario.StartAsync(settings: half, configure: exported.AddTo);
        await using var client = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment", settings: half,
            configure: exported.AddTo);

        const int Requests = 40;
        for (var i = 0; i < Requests; i++)
        {
            using var response = await client.Pooled().GetAsync(new Uri("/api/whoami", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        HashSet<ActivityTraceId> Traces(string source, ActivityKind kind) =>
            [.. exported.Spans.Where(s => s.Source.Name == source && s.Kind == kind).Select(s => s.TraceId)];

        // Every call the client recorded reaches the server's exporter too (its span ends after the response is sent).
        var calls = Traces("System.Net.Http", ActivityKind.Client);
        await Eventually.True(() => calls.IsSubsetOf(Traces(AspNetCore, ActivityKind.Server)), "the server spans of the client's recorded calls");
        Assert.Subset(calls, Traces(AspNetCore, ActivityKind.Server)); // and no server span of a call the client dropped
        Assert.InRange(calls.Count, 1, Requests - 1); // at 0.5, 40 traces are neither all kept nor all dropped (but for 2 in 2^40)
    }

    [Theory]
    [InlineData("1.5")]
    [InlineData("-0.1")]
    public async Task A_ratio_outside_0_to_1_stops_the_start_naming_the_setting(string ratio)
    {
        using var pki = new TestPki();
        pki.Authority.Issue(new LeafRequest("payment") { DnsNames = ["localhost"] });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => MtlsTestServer.StartAsync(pki.Authority.Layout.ServiceDirectory("payment"),
            Scenario.MapEndpoints, settings: new Dictionary<string, string?> { ["Mtls:Telemetry:TraceSampleRatio"] = ratio }));
        Assert.Contains("Mtls:Telemetry:TraceSampleRatio must be a number from 0 to 1", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A GET inside a caller's trace (its traceparent sent by HttpClient, sampled or not), as a calling service sends it.</summary>
    private static async Task<HttpStatusCode> GetInTraceAsync(HttpClient client, Uri uri, ActivityTraceId trace, bool sampledFlag)
    {
        using var caller = new Activity("caller").SetParentId(trace, ActivitySpanId.CreateRandom(), sampledFlag ? ActivityTraceFlags.Recorded : ActivityTraceFlags.None).Start();
        using var response = await client.GetAsync(uri);
        return response.StatusCode;
    }
}
