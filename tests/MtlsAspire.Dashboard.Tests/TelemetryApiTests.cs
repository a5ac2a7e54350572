using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;

namespace MtlsAspire.Dashboard.Tests;

/// <summary>What the dashboard receives over OTLP, read through its telemetry HTTP API.</summary>
[Collection(DashboardGroup.Name)]
public sealed class TelemetryApiTests(DashboardFixture fixture)
{
    // The intruder tries every 20 s; its first round runs as soon as it starts.
    private static readonly TimeSpan s_refusalTimeout = TimeSpan.FromSeconds(90);

    [Theory]
    [InlineData("no-certificate", "payment", null, null)]
    [InlineData("unknown-ca", "payment", "rogue", "intruder")] // the rogue CA claims the intruder's own name
    [InlineData("expired", "inventory", "expired", "intruder-expired")]
    [InlineData("revoked", "inventory", "revoked", "intruder-revoked")]
    [InlineData("wrong-eku", "payment", "server-only", "intruder-server-only")]
    public async Task Each_handshake_refusal_arrives_as_a_warning_of_the_refusing_service_with_its_attributes(string reason, string service, string? kitEntry, string? claimedName)
    {
        using var api = await TelemetryApi.ConnectAsync(fixture.DashboardUrl, fixture.BrowserToken);

        var logs = await Eventually.UntilAsync(ct => api.LogsAsync(service, "warning", cancellationToken: ct),
            logs => logs.Any(l => l["Reason"] == reason), s_refusalTimeout,
            logs => $"no Warning with Reason={reason} from {service}; its warnings: {Describe(logs)}");

        var refusal = logs.Last(l => l["Reason"] == reason);
        Assert.Equal(service, refusal.Resource);
        Assert.Equal("Warning", refusal.Severity);
        Assert.Equal(service, refusal["Self"]);
        Assert.Equal("server", refusal["Side"]);
        Assert.Equal("client", refusal["PeerRole"]);
        Assert.StartsWith("127.0.0.1:", refusal["PeerAddress"]);
        Assert.Contains($"refused the client certificate from {refusal["PeerAddress"]}: {reason}", refusal.Message, StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(refusal["Detail"]), "the refusal says why in Detail");

        if (kitEntry is null)
        {
            Assert.Equal("-", refusal["Subject"]);
            Assert.Equal("none", refusal["ClaimedSpiffeId"]);
            Assert.Equal("-", refusal["Serial"]);
        }
        else
        {
            // The certificate the intruder presented, from the kit the AppHost issued it.
            using var presented = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(fixture.StateDirectory, "pki", "kits", "intruder", kitEntry, "tls.crt")));
            Assert.Equal(presented.Subject, refusal["Subject"]);
            Assert.Equal(presented.SerialNumber, refusal["Serial"]);
            // What the certificate claims (its URI SAN): logged for the record, never trusted.
            Assert.Equal($"spiffe://mtls-aspire.local/ns/development/sa/{claimedName}", refusal["ClaimedSpiffeId"]);
        }
    }

    [Fact]
    public async Task A_valid_identity_that_is_not_allowed_gets_a_403_logged_by_the_callee_with_the_caller()
    {
        using var api = await TelemetryApi.ConnectAsync(fixture.DashboardUrl, fixture.BrowserToken);
        var intruder = fixture.Property("intruder", PropertyNames.SpiffeId);
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/intruder", intruder);

        var logs = await Eventually.UntilAsync(ct => api.LogsAsync("payment", "warning", cancellationToken: ct),
            logs => logs.Any(l => l["Reason"] == "caller-not-allowed" && l["SpiffeId"] == intruder), s_refusalTimeout,
            logs => $"no authorization denial of {intruder} in payment's warnings: {Describe(logs)}");

        var denial = logs.Last(l => l["Reason"] == "caller-not-allowed" && l["SpiffeId"] == intruder);
        Assert.Equal("payment", denial.Resource);
        Assert.Equal("Warning", denial.Severity);
        Assert.StartsWith($"mTLS authorization denied {intruder} calling payment ", denial.Message, StringComparison.Ordinal);
        Assert.Equal("server", denial["Side"]);
        Assert.StartsWith("payment ", denial["Callee"]);
        Assert.StartsWith("127.0.0.1:", denial["PeerAddress"]);

        // The intruder's own, valid certificate (its credentials directory), and payment's rule: order only.
        using var leaf = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(fixture.StateDirectory, "pki", "services", "intruder", "tls.crt")));
        Assert.Equal(leaf.Subject, denial["Subject"]);
        Assert.Equal(fixture.Property("intruder", PropertyNames.Serial), denial["Serial"]);
        Assert.Contains("spiffe://mtls-aspire.local/ns/development/sa/order", denial["Allowed"], StringComparison.Ordinal);
        Assert.DoesNotContain(intruder!, denial["Allowed"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task None_of_the_intruders_attempts_gets_through()
    {
        using var api = await TelemetryApi.ConnectAsync(fixture.DashboardUrl, fixture.BrowserToken);
        string[] attempts = ["no certificate", "rogue CA", "expired certificate", "revoked certificate", "serverAuth-only certificate"];

        // A full round: every handshake attempt reported refused, and the call as itself answered.
        var logs = await Eventually.UntilAsync(ct => api.LogsAsync("intruder", cancellationToken: ct),
            logs => attempts.All(a => logs.Any(l => l["Attempt"] == a)) && logs.Any(l => l["Status"] is not null && l["Attempt"] is not null),
            s_refusalTimeout, logs => $"the intruder's round is incomplete: {Describe(logs.Where(l => l["Attempt"] is not null))}");

        Assert.All(logs.Where(l => l["Attempt"] is not null && attempts.Contains(l["Attempt"])), l =>
        {
            Assert.Equal("Information", l.Severity);
            Assert.Contains("refused in the handshake", l.Message, StringComparison.Ordinal);
        });
        Assert.All(logs.Where(l => l["Status"] is not null && l["Attempt"] is not null), l => Assert.Equal("403", l["Status"]));
    }

    [Fact]
    public async Task Every_service_sends_telemetry_and_the_api_refuses_callers_without_its_key()
    {
        using var api = await TelemetryApi.ConnectAsync(fixture.DashboardUrl, fixture.BrowserToken);
        var resources = await Eventually.UntilAsync(api.ResourcesAsync,
            names => DashboardFixture.Resources.Where(r => r != "pki").All(names.Contains), TimeSpan.FromMinutes(3),
            names => $"telemetry from: {string.Join(", ", names)}");
        Assert.DoesNotContain("pki", resources); // the PKI runs inside the AppHost: it has a console log, not telemetry

        using var anonymous = new HttpClient { BaseAddress = fixture.DashboardUrl };
        using var withoutKey = await anonymous.GetAsync(new Uri("api/telemetry/logs", UriKind.Relative));
        Assert.Equal(HttpStatusCode.Unauthorized, withoutKey.StatusCode);
        using var wrongToken = await anonymous.PostAsJsonAsync("api/telemetry/validateToken", new { token = "not-the-browser-token" });
        Assert.Equal(HttpStatusCode.Unauthorized, wrongToken.StatusCode);
    }

    private static string Describe(IEnumerable<LogRecord> logs) =>
        string.Join(" | ", logs.TakeLast(12).Select(l => l.Message.Length > 160 ? l.Message[..160] : l.Message));
}
