using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// Handshake admission (Mtls:Admission): a source whose handshakes fail is refused before TLS until its penalty decays,
/// handshakes in flight are bounded per source and in all, and the table of sources is bounded.
/// </summary>
public class AdmissionTests
{
    private const string Order = "spiffe://mtls-aspire.local/ns/development/sa/order";

    [Fact]
    public async Task A_flood_of_bad_handshakes_from_one_address_is_refused_before_tls_while_a_caller_from_another_is_served()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow); // frozen: the penalty decays only when the test says
        await using var scenario = await Scenario.StartAsync(serverTime: clock, settings: new Dictionary<string, string?>
        {
            ["Mtls:Admission:FailuresBeforePenalty"] = "10",
            ["Mtls:Admission:PenaltyHalfLife"] = "00:00:10",
        });
        using var admissions = new MetricCollector<long>(scenario.Server.App.Services.GetRequiredService<IMeterFactory>(), MtlsTelemetry.MeterName,
            HandshakeAdmission.MetricName);
        var orderDirectory = scenario.IssueClient("order");
        await using var keepAlive = await MtlsTestClient.StartAsync(orderDirectory, scenario.Server.HttpsByIp, "payment");
        using var fresh = scenario.RawClientFor(orderDirectory); // a new connection (and handshake) per request
        fresh.BaseAddress = scenario.Server.HttpsByIp;

        // The legitimate caller, from 127.0.0.1, keeps calling throughout.
        await using var caller = new LoadLoop(("keep-alive", keepAlive.Pooled), ("new-connections", () => fresh));
        await caller.AdvanceAsync(10);

        await using (var flood = new BadHandshakeFlood(SourceBinding.Flooder, scenario.Server.HttpsByIp, scenario.TrustedRoots, Order))
        {
            await Eventually.True(() => Penalised(admissions) > 0, "the flood's source refused before TLS");
            // Its connections keep being closed before TLS while the caller is served.
            var refused = Penalised(admissions);
            await caller.AdvanceAsync(20);
            await Eventually.True(() => Penalised(admissions) > refused + 10, "more of the flood refused before TLS");
            Assert.True(flood.Attempts > 20);
            // In Kestrel's accept loop, before a connection is made of the socket.
            Assert.True(scenario.Server.App.Services.GetRequiredService<HandshakeAdmission>().RefusedAtAccept > 0);
        }

        Assert.Empty(caller.Failures);
        Assert.DoesNotContain(admissions.GetMeasurementSnapshot(), m => (string?)m.Tags["reason"] != "penalised");
        // One Warning for the penalty, none per refused connection (the clock has not moved: no summary yet).
        var penalty = Assert.Single(AdmissionLogs(scenario));
        Assert.Equal("127.0.0.2", penalty.GetStructuredStateValue("Source"));

        // The flooding address with a valid certificate now: still refused, before TLS, while the penalty lasts.
        using var reformed = scenario.RawClientFor(orderDirectory, configure: handler => SourceBinding.From(handler, SourceBinding.Flooder));
        var before = Penalised(admissions);
        // Closed before TLS: HttpClient reports it as an HttpRequestException, or, when the close wins the race with its
        // read of the socket's remote address, as the SocketException itself ("Transport endpoint is not connected").
        var closed = await Assert.ThrowsAnyAsync<Exception>(() => reformed.GetAsync(new Uri(scenario.Server.HttpsByIp, "/api/whoami")));
        Assert.True(closed is HttpRequestException or System.Net.Sockets.SocketException, closed.ToString());
        Assert.True(Penalised(admissions) > before);

        // Once the penalty has decayed, it is served again. The window's summary counts the refusals.
        clock.Advance(TimeSpan.FromMinutes(2));
        await Eventually.True(() => AdmissionLogs(scenario).Count == 2, "the summary of the refusals");
        Assert.Equal(Penalised(admissions).ToString(System.Globalization.CultureInfo.InvariantCulture), AdmissionLogs(scenario)[1].GetStructuredStateValue("Penalised"));
        var served = await reformed.GetFromJsonAsync<Scenario.Caller>(new Uri(scenario.Server.HttpsByIp, "/api/whoami"));
        Assert.Equal(Order, served!.SpiffeId);
        await caller.AdvanceAsync(5);
        Assert.Empty(caller.Failures);
    }

    [Fact]
    public void A_penalty_decays_and_a_source_that_completed_a_handshake_is_not_penalised()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var admission = Admission(clock, new MtlsAdmissionOptions { FailuresBeforePenalty = 3, PenaltyHalfLife = TimeSpan.FromSeconds(10) });
        var attacker = SourceAddress.From(IPAddress.Parse("192.0.2.1"));
        var proxy = SourceAddress.From(IPAddress.Parse("192.0.2.2"));

        Admit(admission, proxy).Complete(succeeded: true);
        for (var i = 0; i < 3; i++)
        {
            Admit(admission, attacker).Complete(succeeded: false);
            Admit(admission, proxy).Complete(succeeded: false);
        }

        Assert.Null(admission.TryAdmit(attacker));
        Assert.NotNull(admission.TryAdmit(proxy)); // shared with a peer that got through: bounded, never penalised

        // 3 halves to 2.1 in about 5 s: below the threshold, one handshake again; failing, it is refused again at once.
        clock.Advance(TimeSpan.FromSeconds(5));
        Admit(admission, attacker).Complete(succeeded: false);
        Assert.True(admission.IsPenalised(attacker));
        Assert.Null(admission.TryAdmit(attacker));
    }

    [Fact]
    public void Handshakes_in_flight_are_bounded_per_source_and_in_all()
    {
        using var admission = Admission(new FakeTimeProvider(DateTimeOffset.UtcNow),
            new MtlsAdmissionOptions { MaxHandshakesPerSource = 2, MaxConcurrentHandshakes = 3, MaxSources = 10 });
        var a = SourceAddress.From(IPAddress.Parse("192.0.2.1"));
        var b = SourceAddress.From(IPAddress.Parse("192.0.2.2"));
        var c = SourceAddress.From(IPAddress.Parse("192.0.2.3"));

        var first = Admit(admission, a);
        Admit(admission, a);
        Assert.Null(admission.TryAdmit(a));
        Admit(admission, b);
        Assert.Null(admission.TryAdmit(c));

        first.Complete(succeeded: true);
        first.Complete(succeeded: true); // a slot is given back once
        Assert.NotNull(admission.TryAdmit(c));
        Assert.Null(admission.TryAdmit(a));
    }

    [Fact]
    public void The_table_of_sources_is_bounded_and_forgets_the_least_penalised_and_oldest_first()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var admission = Admission(clock,
            new MtlsAdmissionOptions { FailuresBeforePenalty = 3, MaxHandshakesPerSource = 5, MaxConcurrentHandshakes = 10, MaxSources = 20 });
        var attacker = SourceAddress.From(IPAddress.Parse("198.51.100.1"));
        var proven = SourceAddress.From(IPAddress.Parse("198.51.100.2"));
        var holding = SourceAddress.From(IPAddress.Parse("198.51.100.3"));
        // Five failures at once: a score of 5, still above 3 after the strangers' two seconds.
        foreach (var ticket in Enumerable.Range(0, 5).Select(_ => Admit(admission, attacker)).ToList())
        {
            ticket.Complete(succeeded: false);
        }

        Admit(admission, proven).Complete(succeeded: true);
        var held = Admit(admission, holding); // a handshake in flight: its slot is counted on the entry
        var strangers = Enumerable.Range(1, 200).Select(i => SourceAddress.From(new IPAddress([203, 0, 113, (byte)i]))).ToList();
        foreach (var stranger in strangers)
        {
            clock.Advance(TimeSpan.FromMilliseconds(10));
            Admit(admission, stranger).Complete(succeeded: false);
        }

        Assert.InRange(admission.Count, 1, 20);
        Assert.True(admission.IsPenalised(attacker));
        Assert.True(admission.Remembers(proven));
        Assert.True(admission.Remembers(holding));
        Assert.True(admission.Remembers(strangers[^1]));
        Assert.False(admission.Remembers(strangers[0]));
        held.Complete(succeeded: false);
    }

    [Fact]
    public void An_ipv6_source_is_its_64_prefix_and_an_ipv4_mapped_address_is_its_ipv4_address()
    {
        var host = SourceAddress.From(IPAddress.Parse("2001:db8:1:2::1"));

        Assert.Equal(host, SourceAddress.From(IPAddress.Parse("2001:db8:1:2:ffff:ffff:ffff:9")));
        Assert.NotEqual(host, SourceAddress.From(IPAddress.Parse("2001:db8:1:3::1")));
        Assert.Equal("2001:db8:1:2::/64", host.ToString());
        Assert.Equal(SourceAddress.From(IPAddress.Parse("192.0.2.7")), SourceAddress.From(IPAddress.Parse("::ffff:192.0.2.7")));
        Assert.Equal("192.0.2.7", SourceAddress.From(IPAddress.Parse("::ffff:192.0.2.7")).ToString());
        Assert.NotEqual(SourceAddress.From(IPAddress.Parse("0.0.0.1")), SourceAddress.From(IPAddress.Parse("::1")));

        // Penalised by one address of the /64, refused at any other; another /64 is another source.
        using var admission = Admission(new FakeTimeProvider(DateTimeOffset.UtcNow), new MtlsAdmissionOptions { FailuresBeforePenalty = 2 });
        Admit(admission, host).Complete(succeeded: false);
        Admit(admission, SourceAddress.From(IPAddress.Parse("2001:db8:1:2::abcd"))).Complete(succeeded: false);
        Assert.Null(admission.TryAdmit(SourceAddress.From(IPAddress.Parse("2001:db8:1:2:1234::1"))));
        Assert.NotNull(admission.TryAdmit(SourceAddress.From(IPAddress.Parse("2001:db8:1:3::1"))));
    }

    [Fact]
    public void Admission_settings_are_validated_at_start_naming_the_setting()
    {
        var result = new MtlsOptionsValidator().Validate(null, new MtlsOptions
        {
            CredentialsDirectory = Path.GetTempPath(),
            Admission = new MtlsAdmissionOptions { MaxSources = 100, MaxConcurrentHandshakes = 100, PenaltyHalfLife = TimeSpan.Zero, FailuresBeforePenalty = 0 },
        });

        Assert.True(result.Failed);
        Assert.Contains("Mtls:Admission:MaxSources must be more than Mtls:Admission:MaxConcurrentHandshakes", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Mtls:Admission:PenaltyHalfLife must be a positive time span", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Mtls:Admission:FailuresBeforePenalty must be at least 1", result.FailureMessage, StringComparison.Ordinal);
    }

    private static List<Microsoft.Extensions.Logging.Testing.FakeLogRecord> AdmissionLogs(Scenario scenario) =>
        [.. scenario.Server.Logs.GetSnapshot().Where(r => r.Message.StartsWith("mTLS admission", StringComparison.Ordinal))];

    private static long Penalised(MetricCollector<long> admissions) =>
        admissions.GetMeasurementSnapshot().Where(m => (string?)m.Tags["reason"] == "penalised").Sum(m => m.Value);

    private static HandshakeAdmission.Ticket Admit(HandshakeAdmission admission, SourceAddress source) =>
        admission.TryAdmit(source) ?? throw new Xunit.Sdk.XunitException($"{source} was refused");

    private static HandshakeAdmission Admission(TimeProvider time, MtlsAdmissionOptions options) =>
        new(Options.Create(new MtlsOptions { Admission = options }), time,
            new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>(), NullLoggerFactory.Instance);
}
