using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MtlsAspire.ServiceDefaults.Mtls;

namespace MtlsAspire.ServiceDefaults.Telemetry;

/// <summary>
/// mTLS metrics in OpenTelemetry style (every attribute takes its values from a fixed set, or from identities our CA
/// issued: none is a value a peer picks), and the activity source for credential events and refused handshakes:
/// <list type="bullet">
/// <item><c>mtls.handshake.failures</c> {reason, side, peer}: rejected handshakes;</item>
/// <item><c>mtls.authz.decisions</c> {result, caller, callee}: allow, deny, audit-deny, unauthenticated (401); the callee is
/// this service, the method (one of the HTTP methods of RFC 9110 and PATCH, or <c>other</c>) and the route template, never
/// the raw path or method a peer sent;</item>
/// <item><c>mtls.management.refusals</c> {http.request.method, http.response.status_code}: requests the plain management
/// port refused (404: not one of its endpoints; 405: a method other than GET or HEAD), the method normalised likewise;</item>
/// <item><c>mtls.certificate.expiry</c>: seconds until the loaded certificate expires;</item>
/// <item><c>mtls.certificate.rotations</c>: credential generations swapped in;</item>
/// <item><c>mtls.certificate.reload_failures</c> {reason}: new file sets refused (the old one kept serving);</item>
/// <item><c>mtls.crl.age</c>: seconds since the CRL of this service's issuer was signed;</item>
/// <item><c>mtls.peer.validations</c> {side, cache}: peer certificates judged, and whether the verdict cache answered;</item>
/// <item><c>mtls.credentials.generation</c>: the credential generation in use (1 at start, +1 per reload swapped in);</item>
/// <item><c>mtls.trust_bundle.roots</c>: the roots of the loaded trust bundle (2 during a root rotation);</item>
/// <item><c>mtls.cache.entries</c> {cache: peer-verdicts, learned-intermediates, stranger-chains}: the entries of each
/// cache that peers fill, each bounded (<c>Mtls:ValidationCacheSize</c> per generation, 64, and the strangers' chains
/// by bytes);</item>
/// <item><c>mtls.cache.bytes</c> {cache: stranger-chains}: the bytes the strangers' chains count for, at most
/// <c>Mtls:StrangerChainBudgetBytes</c>;</item>
/// <item><c>mtls.certificate.expiry.state</c>: the loaded leaf by <c>Mtls:Expiry</c> (0 ok, 1 warning, 2 critical,
/// 3 expired or not yet valid), measured on the service's clock when read;</item>
/// <item><c>mtls.certificate.expiry.warnings</c> {level: warning, critical, expired, not-yet-valid}: thresholds crossed,
/// once per crossing per generation (the same moment as the Warning or Error log);</item>
/// <item><c>mtls.credentials.on_demand_reloads</c> {result: loaded, unchanged, rate-limited}: file checks a peer refused
/// for want of a CRL or a root asked for (at most one per 250 ms).</item>
/// </list>
/// </summary>
public sealed class MtlsTelemetry : IDisposable
{
    /// <summary>The meter's name (add it to the metrics pipeline).</summary>
    public const string MeterName = "MtlsAspire.Mtls";

    /// <summary>The activity source's name (add it to the tracing pipeline).</summary>
    public const string ActivitySourceName = "MtlsAspire.Mtls";

    /// <summary>The span of a refused handshake (either side), with error status and the reason.</summary>
    public const string HandshakeActivityName = "mtls.handshake";

    /// <summary>The counter of caller authorization decisions.</summary>
    internal const string AuthorizationDecisionsName = "mtls.authz.decisions";

    /// <summary>The counter of requests the plain management port refused.</summary>
    internal const string ManagementRefusalsName = "mtls.management.refusals";

    /// <summary>What a metric says for a method outside the known ones, so that peers cannot mint attribute values.</summary>
    internal const string OtherMethod = "other";

    /// <summary>The methods a metric names as they are; any other is <see cref="OtherMethod"/>.</summary>
    private static readonly string[] s_knownMethods =
    [
        HttpMethods.Get, HttpMethods.Head, HttpMethods.Post, HttpMethods.Put, HttpMethods.Delete, HttpMethods.Patch,
        HttpMethods.Options, HttpMethods.Trace, HttpMethods.Connect,
    ];

    private readonly Meter _meter;
    private readonly Counter<long> _handshakeFailures;
    private readonly Counter<long> _authorizationDecisions;
    private readonly Counter<long> _rotations;
    private readonly Counter<long> _reloadFailures;
    private readonly Counter<long> _validations;
    private readonly Counter<long> _expiryWarnings;
    private readonly Counter<long> _onDemandReloads;
    private readonly Counter<long> _managementRefusals;
    private Func<MtlsCredentials?> _credentials = () => null;
    private MtlsAspire.Verification.Status.ExpiryPolicy _expiryPolicy = MtlsAspire.Verification.Status.ExpiryPolicy.Default;

    /// <summary>Creates the instruments, and the limit on refusals logged one by one (<see cref="MtlsOptions.RefusalLogs"/>).</summary>
    public MtlsTelemetry(IMeterFactory meterFactory, TimeProvider time, IOptions<MtlsOptions> options, ILoggerFactory loggerFactory)
    {
        RefusalLogs = new RefusalLogLimiter(time, loggerFactory.CreateLogger(MtlsServerExtensions.LoggerCategory), options.Value.RefusalLogs);
        _meter = meterFactory.Create(MeterName);
        _handshakeFailures = _meter.CreateCounter<long>("mtls.handshake.failures", "{handshake}", "TLS handshakes refused, by reason, side and peer");
        _authorizationDecisions = _meter.CreateCounter<long>(AuthorizationDecisionsName, "{request}", "Caller authorization decisions by result, caller and callee");
        _managementRefusals = _meter.CreateCounter<long>(ManagementRefusalsName, "{request}",
            "Requests the plain management port refused (404: not one of its endpoints; 405: not GET or HEAD), by method and status");
        _rotations = _meter.CreateCounter<long>("mtls.certificate.rotations", "{rotation}", "Credential generations swapped in without a restart");
        _reloadFailures = _meter.CreateCounter<long>("mtls.certificate.reload_failures", "{reload}", "New credential file sets refused; the previous set kept serving");
        _validations = _meter.CreateCounter<long>("mtls.peer.validations", "{certificate}", "Peer certificates judged, by side and whether the verdict cache answered");
        _expiryWarnings = _meter.CreateCounter<long>("mtls.certificate.expiry.warnings", "{crossing}",
            "Expiry thresholds the loaded leaf crossed (Mtls:Expiry), once per crossing per generation, by level");
        _onDemandReloads = _meter.CreateCounter<long>("mtls.credentials.on_demand_reloads", "{check}",
            "File checks asked for by a peer refused for want of a CRL or a root, by result");
        _meter.CreateObservableGauge("mtls.credentials.generation", () => Observe(c => (double)c.Generation), "{generation}",
            "The credential generation in use");
        _meter.CreateObservableGauge("mtls.trust_bundle.roots", () => Observe(c => (double)c.TrustedRoots.Count), "{certificate}",
            "Roots in the loaded trust bundle");
        _meter.CreateObservableGauge("mtls.cache.entries", ObserveCaches, "{entry}",
            "Entries of the caches peers fill: verdicts of the generation in use, intermediates learned from authenticated peers, chains remembered of strangers");
        _meter.CreateObservableGauge("mtls.cache.bytes", ObserveCacheBytes, "By",
            "Bytes held by the caches peers fill that are bounded by bytes: the chains remembered of strangers (Mtls:StrangerChainBudgetBytes)");
        _meter.CreateObservableGauge("mtls.certificate.expiry.state", () => Observe(c => (double)StateValue(c.Expiry(_expiryPolicy, time.GetUtcNow()).State)),
            "{state}", "The loaded leaf by the expiry thresholds: 0 ok, 1 warning, 2 critical, 3 expired or not yet valid");
        _meter.CreateObservableGauge("mtls.certificate.expiry", () => Observe(c => (c.Leaf.NotAfter.ToUniversalTime() - time.GetUtcNow().UtcDateTime).TotalSeconds),
            "s", "Seconds until the loaded certificate expires");
        _meter.CreateObservableGauge("mtls.crl.age", () => Observe(c => c.IssuerCrl is { } crl ? (time.GetUtcNow() - crl.ThisUpdate).TotalSeconds : double.NaN),
            "s", "Seconds since the CRL of this service's issuer was signed");
    }

    /// <summary>Which refused handshakes are logged and traced one by one; the others are summed up.</summary>
    internal RefusalLogLimiter RefusalLogs { get; }

    /// <summary>The activity source for credential events (loaded, rotated, refused) and refused handshakes (<see cref="HandshakeActivityName"/>).</summary>
    public static ActivitySource ActivitySource { get; } = new(ActivitySourceName);

    /// <summary>
    /// A <c>mtls.handshake</c> span with error status for a refused handshake. <c>mtls.peer.claimed_spiffe_id</c> is
    /// what the certificate says, not a verified identity.
    /// </summary>
    internal static void TraceRefusedHandshake(string side, string reason, string detail, string peerAddress, string subject, string claimedSpiffeId,
        string serial)
    {
        // Inside a trace that is not recorded (sampled out), the refusal becomes a trace of its own, linked to it: the
        // sampler keeps every mTLS span, and a child of a span nobody exported would dangle.
        var current = Activity.Current;
        var unrecorded = current is { Recorded: false };
        if (unrecorded)
        {
            Activity.Current = null;
        }

        try
        {
            using var activity = unrecorded
                ? ActivitySource.StartActivity(HandshakeActivityName, ActivityKind.Internal, default(ActivityContext), links: [new ActivityLink(current!.Context)])
                : ActivitySource.StartActivity(HandshakeActivityName);
            if (activity is not null)
            {
                TagRefusal(activity, side, reason, detail, peerAddress, subject, claimedSpiffeId, serial);
            }
        }
        finally
        {
            if (unrecorded)
            {
                Activity.Current = current;
            }
        }
    }

    private static void TagRefusal(Activity activity, string side, string reason, string detail, string peerAddress, string subject, string claimedSpiffeId,
        string serial)
    {
        activity.SetTag("mtls.side", side);
        activity.SetTag("mtls.rejection.reason", reason);
        activity.SetTag("mtls.rejection.detail", detail);
        activity.SetTag("error.type", reason);
        activity.SetTag("mtls.peer.address", peerAddress);
        activity.SetTag("mtls.peer.subject", subject);
        activity.SetTag("mtls.peer.claimed_spiffe_id", claimedSpiffeId);
        activity.SetTag("mtls.peer.serial", serial);
        activity.SetStatus(ActivityStatusCode.Error, reason);
    }

    internal void ObserveCredentials(Func<MtlsCredentials?> credentials, MtlsAspire.Verification.Status.ExpiryPolicy expiryPolicy)
    {
        _credentials = credentials;
        _expiryPolicy = expiryPolicy;
    }

    /// <summary>The value of <c>mtls.certificate.expiry.state</c>: 0 ok, 1 warning, 2 critical, 3 expired or not yet valid.</summary>
    internal static int StateValue(MtlsAspire.Verification.Status.ExpiryState state) => state switch
    {
        MtlsAspire.Verification.Status.ExpiryState.Ok => 0,
        MtlsAspire.Verification.Status.ExpiryState.Warning => 1,
        MtlsAspire.Verification.Status.ExpiryState.Critical => 2,
        _ => 3,
    };

    internal void ExpiryCrossed(MtlsAspire.Verification.Status.ExpiryState state) =>
        _expiryWarnings.Add(1, new KeyValuePair<string, object?>("level", LevelTag(state)));

    internal static string LevelTag(MtlsAspire.Verification.Status.ExpiryState state) =>
        System.Text.Json.JsonNamingPolicy.KebabCaseLower.ConvertName(state.ToString());

    internal void OnDemandReload(string result) => _onDemandReloads.Add(1, new KeyValuePair<string, object?>("result", result));

    private IEnumerable<Measurement<double>> Observe(Func<MtlsCredentials, double> value)
    {
        if (_credentials() is { } current && !double.IsNaN(value(current)))
        {
            return [new Measurement<double>(value(current), new KeyValuePair<string, object?>("mtls.identity", current.Identity.ToString()))];
        }

        return [];
    }

    private IEnumerable<Measurement<long>> ObserveCaches()
    {
        if (_credentials() is not { } current)
        {
            return [];
        }

        var identity = new KeyValuePair<string, object?>("mtls.identity", current.Identity.ToString());
        var (learned, strangers, _) = current.KnownIntermediateCounts;
        return
        [
            new(current.CachedVerdicts, identity, new("cache", "peer-verdicts")),
            new(learned, identity, new("cache", "learned-intermediates")),
            new(strangers, identity, new("cache", "stranger-chains")),
        ];
    }

    private IEnumerable<Measurement<long>> ObserveCacheBytes() => _credentials() is { } current
        ? [new(current.KnownIntermediateCounts.StrangerBytes, new KeyValuePair<string, object?>("mtls.identity", current.Identity.ToString()), new("cache", "stranger-chains"))]
        : [];

    internal void HandshakeRejected(PeerSide side, RejectionReason reason, string peer) =>
        _handshakeFailures.Add(1, new("reason", reason.ToTagValue()), new("side", side == PeerSide.Server ? "server" : "client"), new("peer", peer));

    internal void AuthorizationDecision(string result, string caller, string callee) =>
        _authorizationDecisions.Add(1, new("result", result), new("caller", caller), new("callee", callee));

    internal void ManagementRefused(string method, int status) =>
        _managementRefusals.Add(1, new("http.request.method", MethodTag(method)), new("http.response.status_code", status));

    /// <summary>The request method as a metric names it: a known HTTP method (upper case), or <see cref="OtherMethod"/>.</summary>
    internal static string MethodTag(string method)
    {
        foreach (var known in s_knownMethods)
        {
            if (string.Equals(method, known, StringComparison.OrdinalIgnoreCase))
            {
                return known;
            }
        }

        return OtherMethod;
    }

    internal void Rotated() => _rotations.Add(1);

    internal void Validated(PeerSide side, bool cacheHit) =>
        _validations.Add(1, new("side", side == PeerSide.Server ? "server" : "client"), new("cache", cacheHit ? "hit" : "miss"));

    internal void ReloadRefused(string reason) => _reloadFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <inheritdoc />
    public void Dispose()
    {
        RefusalLogs.Dispose();
        _meter.Dispose();
    }
}
