using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Identity;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>Which side of the handshake is judging the other.</summary>
public enum PeerSide
{
    /// <summary>This service is the server, judging a client certificate.</summary>
    Server,

    /// <summary>This service is the client, judging a server certificate.</summary>
    Client,
}

/// <summary>The verdict on a peer certificate.</summary>
/// <param name="Accepted">True when the peer may proceed.</param>
/// <param name="Identity">The peer's SPIFFE ID (empty when unknown).</param>
/// <param name="Reason">Why it was refused.</param>
/// <param name="Detail">Which certificate, which time, which issuer: words for the on-call engineer.</param>
public sealed record PeerVerdict(bool Accepted, SpiffeId Identity, RejectionReason? Reason, string? Detail)
{
    /// <summary>
    /// Until when an accepted verdict holds (inclusive): the earliest notAfter of the peer's chain and, unless
    /// <c>Mtls:AllowStaleCrl</c>, the earliest nextUpdate of the CRLs that judged it. An open connection is judged again after it.
    /// </summary>
    public DateTimeOffset ValidUntil { get; init; } = DateTimeOffset.MaxValue;

    internal static PeerVerdict Accept(SpiffeId identity, DateTimeOffset validUntil) => new(true, identity, null, null) { ValidUntil = validUntil };

    internal static PeerVerdict Reject(RejectionReason reason, string detail, SpiffeId identity = default) => new(false, identity, reason, detail);

    /// <summary>One line: "expired: 'CN=payment…' expired: notAfter …".</summary>
    public string Describe() => Accepted ? $"accepted {Identity}" : $"{Reason!.Value.ToTagValue()}: {Detail}";
}

/// <summary>A peer certificate as it reached the validation callback.</summary>
/// <param name="Certificate">The leaf, or null when none was presented.</param>
/// <param name="SentIntermediates">The certificates the peer sent after its leaf.</param>
/// <param name="PeerAddress">Where it came from / went to, for the log.</param>
public sealed record PeerCertificate(X509Certificate2? Certificate, IReadOnlyCollection<X509Certificate2> SentIntermediates, string PeerAddress)
{
    /// <summary>
    /// The chain SslStream built for <see cref="Certificate"/> before its validation callback, with the endpoint's chain
    /// policy, if any: a clean one spares the validator a second build. Valid only during the callback (SslStream disposes
    /// its certificates after it).
    /// </summary>
    public X509Chain? Chain { get; init; }
}
