using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Tests;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>Identity (401) and caller rules (403) per endpoint, over real mTLS.</summary>
public class AuthorizationTests
{
    private static MetricCollector<long> Decisions(MtlsTestServer server) =>
        new(server.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), MtlsTelemetry.MeterName, "mtls.authz.decisions");

    [Fact]
    public async Task A_caller_not_in_the_endpoints_rule_gets_403_naming_caller_and_endpoint()
    {
        await using var scenario = await Scenario.StartAsync();
        await using var inventory = await MtlsTestClient.StartAsync(scenario.IssueClient("inventory"), scenario.Server.Https, "payment");
        using var decisions = Decisions(scenario.Server);

        var response = await inventory.Pooled().GetAsync("/api/charges");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<ProblemDetails>();
        Assert.Contains("spiffe://mtls-aspire.local/ns/development/sa/inventory may not call payment GET /api/charges", problem!.Detail, StringComparison.Ordinal);
        Assert.Contains("allowed callers: order", problem.Detail, StringComparison.Ordinal);
        var decision = Assert.Single(decisions.GetMeasurementSnapshot());
        Assert.Equal("deny", decision.Tags["result"]);
        Assert.Equal("inventory", decision.Tags["caller"]);
        var warning = Assert.Single(scenario.Server.Logs.GetSnapshot(), r => r.Level == LogLevel.Warning && r.Message.Contains("authorization denied", StringComparison.Ordinal));
        Assert.Contains("authorization denied spiffe://mtls-aspire.local/ns/development/sa/inventory calling payment GET /api/charges: allowed are order",
            warning.Message, StringComparison.Ordinal);
        Assert.Equal("server", warning.GetStructuredStateValue("Side"));
        Assert.Equal("caller-not-allowed", warning.GetStructuredStateValue("Reason"));
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/inventory", warning.GetStructuredStateValue("SpiffeId"));
        Assert.Equal("payment GET /api/charges", warning.GetStructuredStateValue("Callee"));
        Assert.Equal("order", warning.GetStructuredStateValue("Allowed"));
        Assert.Equal("CN=inventory, OU=development, O=MtlsAspire", warning.GetStructuredStateValue("Subject"));
        Assert.Equal(inventory.Store.Current.Leaf.SerialNumber, warning.GetStructuredStateValue("Serial"));
        Assert.StartsWith("127.0.0.1:", warning.GetStructuredStateValue("PeerAddress"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Outside_development_a_403_names_caller_and_endpoint_but_not_the_allowed_callers_which_the_log_still_has()
    {
        await using var scenario = await Scenario.StartAsync(environment: "Production");
        await using var inventory = await MtlsTestClient.StartAsync(scenario.IssueClient("inventory"), scenario.Server.Https, "payment");

        var response = await inventory.Pooled().GetAsync("/api/charges");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        var problem = System.Text.Json.JsonSerializer.Deserialize<ProblemDetails>(body, System.Text.Json.JsonSerializerOptions.Web)!;
        Assert.StartsWith("spiffe://mtls-aspire.local/ns/development/sa/inventory may not call payment GET /api/charges.", problem.Detail, StringComparison.Ordinal);
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/inventory", problem.Extensions["caller"]?.ToString());
        Assert.Equal("payment GET /api/charges", problem.Extensions["callee"]?.ToString());
        Assert.DoesNotContain("allowed callers:", body, StringComparison.Ordinal);
        Assert.DoesNotContain("order", body, StringComparison.Ordinal);
        var warning = Assert.Single(scenario.Server.Logs.GetSnapshot(), r => r.Message.Contains("authorization denied", StringComparison.Ordinal));
        Assert.Equal("order", warning.GetStructuredStateValue("Allowed"));
    }

    [Fact]
    public async Task A_flood_of_403s_logs_the_first_of_a_window_then_one_summary_with_the_exact_count_and_counts_every_one()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow); // frozen: the window ends only when the test says
        await using var scenario = await Scenario.StartWithRefusalWindowAsync(clock);
        await using var inventory = await MtlsTestClient.StartAsync(scenario.IssueClient("inventory"), scenario.Server.Https, "payment");
        using var decisions = Decisions(scenario.Server);
        var client = inventory.Pooled();

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/api/charges")).StatusCode);
        }

        Assert.Equal(20, decisions.GetMeasurementSnapshot().Count(m => (string?)m.Tags["result"] == "deny"));
        Assert.Equal(3, scenario.Server.Logs.GetSnapshot().Count(r => r.Message.Contains("authorization denied", StringComparison.Ordinal)));
        Assert.Empty(DenialSummaries(scenario));

        clock.Advance(TimeSpan.FromSeconds(10));

        await Eventually.True(() => DenialSummaries(scenario).Count == 1, "the summary of the window");
        var summary = DenialSummaries(scenario)[0];
        Assert.Equal(LogLevel.Warning, summary.Level);
        Assert.Equal("17", summary.GetStructuredStateValue("Suppressed"));
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/inventory", summary.GetStructuredStateValue("Caller"));
        Assert.Equal("payment GET /api/charges", summary.GetStructuredStateValue("Request"));
        Assert.Contains("mtls.authz.decisions counts every one", summary.Message, StringComparison.Ordinal);

        // A new window: logged in full again.
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/api/charges")).StatusCode);
        Assert.Equal(4, scenario.Server.Logs.GetSnapshot().Count(r => r.Message.Contains("authorization denied", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_method_the_caller_makes_up_is_other_in_the_callee_attribute_but_named_in_the_log()
    {
        await using var scenario = await Scenario.StartAsync();
        await using var order = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment");
        await using var inventory = await MtlsTestClient.StartAsync(scenario.IssueClient("inventory"), scenario.Server.Https, "payment");
        using var decisions = Decisions(scenario.Server);

        using var allowed = await order.Pooled().SendAsync(new HttpRequestMessage(new HttpMethod("FOO123"), "/api/proxy/anything"));
        using var denied = await inventory.Pooled().SendAsync(new HttpRequestMessage(new HttpMethod("FOO123"), "/api/proxy/anything/else"));
        using var get = await order.Pooled().GetAsync("/api/proxy/x");

        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal(
            ["allow payment other /api/proxy/{**rest}", "deny payment other /api/proxy/{**rest}", "allow payment GET /api/proxy/{**rest}"],
            decisions.GetMeasurementSnapshot().Select(m => $"{m.Tags["result"]} {m.Tags["callee"]}"));
        Assert.Contains(scenario.Server.Logs.GetSnapshot(), r => r.Message.Contains("calling payment FOO123 /api/proxy/{**rest}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_caller_in_the_rule_is_allowed_and_counted()
    {
        await using var scenario = await Scenario.StartAsync();
        await using var order = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment");
        using var decisions = Decisions(scenario.Server);

        Assert.Equal(HttpStatusCode.OK, (await order.Pooled().GetAsync("/api/charges")).StatusCode);

        Assert.Equal("allow", Assert.Single(decisions.GetMeasurementSnapshot()).Tags["result"]);
        Assert.DoesNotContain(scenario.Server.Logs.GetSnapshot(), r => r.Message.Contains("AUDIT", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_endpoint_without_a_caller_rule_still_requires_an_identity_of_our_trust_domain()
    {
        await using var scenario = await Scenario.StartAsync();
        await using var shopper = await MtlsTestClient.StartAsync(scenario.IssueClient("shopper"), scenario.Server.Https, "payment");
        using var intermediate = CertificateForge.Intermediate(scenario.Pki);
        using var anonymous = CertificateForge.Leaf(scenario.Pki, uri: null, CertificateForge.ClientAuth);
        using var foreign = CertificateForge.Leaf(scenario.Pki, "spiffe://evil.example/ns/development/sa/shopper", CertificateForge.ClientAuth);

        var caller = await shopper.Pooled().GetFromJsonAsync<Scenario.Caller>("/api/open");

        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/shopper", caller!.SpiffeId);
        foreach (var certificate in new[] { anonymous, foreign })
        {
            using var client = RawTlsClient.Create(certificate, [intermediate], scenario.TrustedRoots);
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync(new Uri(scenario.Server.Https, "/api/open"))).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync(new Uri(scenario.Server.Https, "/api/no-such-route"))).StatusCode);
        }
    }

    [Fact]
    public async Task Rules_from_configuration_decide_the_endpoints_that_name_them()
    {
        await using var scenario = await Scenario.StartAsync(settings: new Dictionary<string, string?> { ["Mtls:Authorization:Rules:ledger-writers:0"] = "inventory" });
        await using var inventory = await MtlsTestClient.StartAsync(scenario.IssueClient("inventory"), scenario.Server.Https, "payment");
        await using var order = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment");

        Assert.Equal(HttpStatusCode.OK, (await inventory.Pooled().GetAsync("/api/ledger")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await order.Pooled().GetAsync("/api/ledger")).StatusCode);
    }

    [Fact]
    public async Task Exactly_the_callers_that_reference_the_service_may_call_an_endpoint_that_requires_referencing_callers()
    {
        await using var scenario = await Scenario.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Mtls:Authorization:ReferencedBy:0"] = "spiffe://mtls-aspire.local/ns/development/sa/order",
            ["Mtls:Authorization:ReferencedBy:1"] = "shopper",
        });
        await using var order = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment");
        await using var shopper = await MtlsTestClient.StartAsync(scenario.IssueClient("shopper"), scenario.Server.Https, "payment");
        await using var inventory = await MtlsTestClient.StartAsync(scenario.IssueClient("inventory"), scenario.Server.Https, "payment");

        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/order", (await order.Pooled().GetFromJsonAsync<Scenario.Caller>("/api/referenced"))!.SpiffeId);
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/shopper", (await shopper.Pooled().GetFromJsonAsync<Scenario.Caller>("/api/referenced"))!.SpiffeId);
        var response = await inventory.Pooled().GetAsync("/api/referenced");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<ProblemDetails>();
        Assert.Contains("spiffe://mtls-aspire.local/ns/development/sa/inventory may not call payment GET /api/referenced", problem!.Detail, StringComparison.Ordinal);
        Assert.Contains("allowed callers: spiffe://mtls-aspire.local/ns/development/sa/order, shopper.", problem.Detail, StringComparison.Ordinal);
        // The references are not a rule of their own: an endpoint naming an unconfigured rule still lets nobody in.
        Assert.Equal(HttpStatusCode.Forbidden, (await order.Pooled().GetAsync("/api/ledger")).StatusCode);
    }

    [Fact]
    public async Task A_service_nobody_references_refuses_every_caller_of_its_referencing_endpoints_and_says_why()
    {
        await using var scenario = await Scenario.StartAsync();
        await using var order = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment");

        var response = await order.Pooled().GetAsync("/api/referenced");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("allowed callers: nobody (no resource references this service: Mtls:Authorization:ReferencedBy is empty)",
            (await response.Content.ReadFromJsonAsync<ProblemDetails>())!.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reference_that_is_neither_a_service_name_nor_a_spiffe_id_fails_the_service_at_start_naming_the_setting()
    {
        using var pki = new TestPki();
        var directory = pki.Authority.Issue(new LeafRequest("payment")).Directory;

        var error = await Assert.ThrowsAnyAsync<Exception>(() => MtlsTestServer.StartAsync(directory, Scenario.MapEndpoints, settings: new Dictionary<string, string?>
        {
            ["Mtls:Authorization:ReferencedBy:0"] = "order",
            ["Mtls:Authorization:ReferencedBy:1"] = "Order Service",
            ["Mtls:Authorization:ReferencedBy:2"] = "*",
        }));

        Assert.Contains("Mtls:Authorization:ReferencedBy:1 names 'Order Service', which is neither a service name nor a SPIFFE ID", error.Message, StringComparison.Ordinal);
        Assert.Contains("Mtls:Authorization:ReferencedBy:2 names '*'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ReferencedBy:0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Audit_mode_lets_a_denied_caller_through_but_logs_and_counts_it()
    {
        await using var scenario = await Scenario.StartAsync(settings: new Dictionary<string, string?> { ["Mtls:Authorization:Mode"] = "Audit" });
        await using var inventory = await MtlsTestClient.StartAsync(scenario.IssueClient("inventory"), scenario.Server.Https, "payment");
        using var decisions = Decisions(scenario.Server);

        Assert.Equal(HttpStatusCode.OK, (await inventory.Pooled().GetAsync("/api/charges")).StatusCode);

        Assert.Equal("audit-deny", Assert.Single(decisions.GetMeasurementSnapshot()).Tags["result"]);
        Assert.Contains(scenario.Server.Logs.GetSnapshot(), r => r.Message.Contains("AUDIT", StringComparison.Ordinal) && r.Message.Contains("sa/inventory", StringComparison.Ordinal));
        // Said once at start, before any request.
        var start = Assert.Single(scenario.Server.Logs.GetSnapshot(), r => r.Message.Contains("is in AUDIT mode", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Warning, start.Level);
    }

    [Fact]
    public async Task A_certificate_from_our_ca_without_a_spiffe_id_gets_401_saying_why_on_every_request()
    {
        await using var scenario = await Scenario.StartAsync();
        using var anonymous = CertificateForge.Leaf(scenario.Pki, uri: null, CertificateForge.ClientAuth);
        using var intermediate = CertificateForge.Intermediate(scenario.Pki);
        using var client = RawTlsClient.Create(anonymous, [intermediate], scenario.TrustedRoots);
        using var decisions = Decisions(scenario.Server);

        // The second request is answered from the certificate cache: it must still say why, be logged and counted.
        for (var i = 0; i < 2; i++)
        {
            var response = await client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami"));

            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            var problem = await response.Content.ReadFromJsonAsync<ProblemDetails>();
            Assert.Contains("no URI SAN", problem!.Detail, StringComparison.Ordinal);
        }

        Assert.Equal(2, decisions.GetMeasurementSnapshot().Count(m => (string?)m.Tags["result"] == "unauthenticated"));
        var warnings = scenario.Server.Logs.GetSnapshot().Where(r => r.Level == LogLevel.Warning && r.Message.Contains("answered 401", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.All(warnings, warning =>
        {
            Assert.Equal("server", warning.GetStructuredStateValue("Side"));
            Assert.Equal("invalid-identity", warning.GetStructuredStateValue("Reason"));
            Assert.Equal(anonymous.SerialNumber, warning.GetStructuredStateValue("Serial"));
            Assert.Equal("none", warning.GetStructuredStateValue("ClaimedSpiffeId"));
            Assert.StartsWith("127.0.0.1:", warning.GetStructuredStateValue("PeerAddress"), StringComparison.Ordinal);
        });
    }

    private static List<FakeLogRecord> DenialSummaries(Scenario scenario) =>
        [.. scenario.Server.Logs.GetSnapshot().Where(r => r.Message.Contains("more requests it answered 403 (caller-not-allowed)", StringComparison.Ordinal))];

    [Fact]
    public async Task An_identity_from_another_trust_domain_gets_401()
    {
        await using var scenario = await Scenario.StartAsync();
        using var foreign = CertificateForge.Leaf(scenario.Pki, "spiffe://evil.example/ns/development/sa/order", CertificateForge.ClientAuth);
        using var intermediate = CertificateForge.Intermediate(scenario.Pki);
        using var client = RawTlsClient.Create(foreign, [intermediate], scenario.TrustedRoots);

        var response = await client.GetAsync(new Uri(scenario.Server.Https, "/api/charges"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("not in the trust domain 'mtls-aspire.local'", (await response.Content.ReadFromJsonAsync<ProblemDetails>())!.Detail, StringComparison.Ordinal);
    }
}
