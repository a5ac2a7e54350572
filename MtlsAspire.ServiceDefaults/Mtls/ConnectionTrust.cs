using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using MtlsAspire.ServiceDefaults.Authorization;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// The handshake's verdict on one mTLS connection's client certificate, as a connection feature: the peer's SPIFFE ID,
/// the principal every request of the connection authenticates as (built once), the telemetry values (formatted once),
/// and until when the verdict holds: which credential generation gave it and its <em>valid-until</em> (the earliest
/// notAfter of the peer's chain and, unless <c>Mtls:AllowStaleCrl</c>, the CRLs' nextUpdate). A request finds it
/// current with one comparison of each (<see cref="IsCurrent"/>); otherwise the connection is judged again.
/// Set by the handshake, which runs alone on its connection; afterwards only read, and its verdict replaced with
/// interlocked operations, because every HTTP/2 stream of the connection reads and renews it at the same time.
/// </summary>
internal sealed class ConnectionTrust
{
    private readonly ConnectionContext? _connection;
    private Verdict _verdict;
    private int _refused;
    private Tags? _tags;

    /// <param name="connection">The connection to close when the peer is refused (null: a request's own judgment, nothing to close).</param>
    /// <param name="certificate">The client certificate.</param>
    /// <param name="identity">The SPIFFE ID the verdict found in it (empty when none).</param>
    /// <param name="trustDomain">The trust domain of the judging credentials.</param>
    /// <param name="generation">The credential generation that accepted it.</param>
    /// <param name="validUntil">Until when that verdict holds.</param>
    public ConnectionTrust(ConnectionContext? connection, X509Certificate2 certificate, SpiffeId identity, string trustDomain, long generation, DateTimeOffset validUntil)
    {
        _connection = connection;
        Certificate = certificate;
        Identity = identity;
        _verdict = new Verdict(generation, validUntil.UtcTicks);
        ClaimedText = identity.IsEmpty ? "none" : identity.ToString();
        if (identity.IsEmpty)
        {
            // Rare (a certificate of our CA without a SPIFFE ID): the reason is looked up only here.
            certificate.GetSpiffeId(out var problem);
            AuthenticationFailure = $"the client certificate has {problem}";
        }
        else if (!identity.IsMemberOf(trustDomain))
        {
            AuthenticationFailure = $"{identity} is not in the trust domain '{trustDomain}'";
        }
        else
        {
            CallerName = identity.ServiceName ?? identity.ToString();
            Principal = SpiffePrincipal.Create(identity, CallerName);
        }
    }

    /// <summary>The client certificate.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The SPIFFE ID the certificate carries (verified as ours only when <see cref="Principal"/> is set).</summary>
    public SpiffeId Identity { get; }

    /// <summary>The SPIFFE ID as a log says it: the ID, or "none".</summary>
    public string ClaimedText { get; }

    /// <summary>
    /// The principal of every request on this connection, for a SPIFFE ID of our trust domain; null otherwise (401).
    /// Shared by the connection's requests: treat it as read-only (a claims transformation returns a clone).
    /// </summary>
    public ClaimsPrincipal? Principal { get; }

    /// <summary>The caller as a metric names it: its service name, or its SPIFFE ID. Set with <see cref="Principal"/>.</summary>
    public string? CallerName { get; }

    /// <summary>Why the certificate authenticates nobody (the 401's reason), or null.</summary>
    public string? AuthenticationFailure { get; }

    /// <summary>The span attributes of the certificate (<c>tls.client.*</c>), formatted at the first request that records a span.</summary>
    public Tags SpanTags
    {
        get
        {
            // Two streams may both format them: the same values, either stays.
            return Volatile.Read(ref _tags) ?? Interlocked.CompareExchange(ref _tags, Format(Certificate), null) ?? _tags!;

            static Tags Format(X509Certificate2 certificate) => new(certificate.Subject, certificate.Issuer,
                certificate.NotAfter.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture), certificate.SerialNumber);
        }
    }

    /// <summary>True when the verdict still holds: given by <paramref name="generation"/> or a newer one, and <paramref name="nowTicks"/> (UTC) not past its valid-until.</summary>
    public bool IsCurrent(long generation, long nowTicks)
    {
        var verdict = Volatile.Read(ref _verdict);
        return verdict.Generation >= generation && nowTicks <= verdict.ValidUntilTicks;
    }

    /// <summary>Notes that <paramref name="generation"/> accepted the certificate again, until <paramref name="validUntil"/> (never moves back to an older generation).</summary>
    public void Accepted(long generation, DateTimeOffset validUntil)
    {
        var renewed = new Verdict(generation, validUntil.UtcTicks);
        var seen = Volatile.Read(ref _verdict);
        while (generation >= seen.Generation)
        {
            var was = Interlocked.CompareExchange(ref _verdict, renewed, seen);
            if (ReferenceEquals(was, seen))
            {
                return;
            }

            seen = was;
        }
    }

    /// <summary>True once the certificate was refused on this connection: it is being closed.</summary>
    public bool IsRefused => Volatile.Read(ref _refused) != 0;

    /// <summary>
    /// Closes the whole connection (an HTTP/2 stream's <c>HttpContext.Abort</c> resets only that stream and leaves the
    /// connection, and the peer's other streams, open). True for the first caller only, who reports the refusal.
    /// </summary>
    public bool Refuse(string reason)
    {
        var first = Interlocked.Exchange(ref _refused, 1) == 0;
        _connection?.Abort(new ConnectionAbortedException(reason));
        return first;
    }

    /// <summary>The OpenTelemetry <c>tls.client.*</c> attributes of the certificate.</summary>
    internal sealed record Tags(string Subject, string Issuer, string NotAfter, string Serial);

    private sealed record Verdict(long Generation, long ValidUntilTicks);
}
