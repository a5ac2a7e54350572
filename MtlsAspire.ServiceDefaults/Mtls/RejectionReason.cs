using MtlsAspire.Verification.Certificates;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>Why a peer certificate was refused. Each has a metric tag value and a log/exception wording.</summary>
public enum RejectionReason
{
    /// <summary>The peer presented no certificate.</summary>
    NoCertificate,

    /// <summary>The chain ends at a CA the trust bundle does not hold (rogue CA).</summary>
    UnknownCa,

    /// <summary>The peer did not send its intermediate and it is not known.</summary>
    IncompleteChain,

    /// <summary>The certificate (or a CA above it) expired.</summary>
    Expired,

    /// <summary>The certificate is not valid yet, beyond the clock-skew allowance.</summary>
    NotYetValid,

    /// <summary>The certificate (or its intermediate) is in its issuer's CRL.</summary>
    Revoked,

    /// <summary>The leaf lacks clientAuth (as a client) or serverAuth (as a server).</summary>
    WrongUsage,

    /// <summary>No valid SPIFFE ID, or one from another trust domain.</summary>
    InvalidIdentity,

    /// <summary>A valid certificate of another service than the one the client meant to call (impersonation).</summary>
    ServerIdentityMismatch,

    /// <summary>No current CRL from the issuer is known, so revocation cannot be checked.</summary>
    CrlUnavailable,

    /// <summary>A broken signature or CA constraint.</summary>
    Invalid,

    /// <summary>The peer closed the connection during or right after the handshake: it refused our certificate.</summary>
    RefusedByPeer,

    /// <summary>
    /// The peer's certificate is not a workload leaf: it is a CA (basicConstraints CA:true) or may sign certificates or
    /// CRLs (keyUsage keyCertSign, cRLSign), which go-spiffe's X.509-SVID profile forbids.
    /// </summary>
    NotALeaf,

    /// <summary>
    /// The certificate claims a SPIFFE ID of our trust domain, but its chain ends at a root of the bundle that is bound to
    /// another trust domain (<see cref="MtlsAspire.Verification.Identity.TrustDomainBinding"/>): that root cannot vouch for our IDs.
    /// </summary>
    TrustDomainMismatch,

    /// <summary>
    /// The peer sent a certificate larger than <c>Mtls:MaxPeerCertificateBytes</c>, or a chain (leaf and what it sent
    /// after it) larger than <c>Mtls:MaxPeerChainBytes</c>: refused before any chain is built, nothing of it kept.
    /// </summary>
    ChainTooLarge,
}

/// <summary>Names of <see cref="RejectionReason"/>.</summary>
public static class RejectionReasons
{
    /// <summary>The metric tag value, e.g. <c>unknown-ca</c>.</summary>
    public static string ToTagValue(this RejectionReason reason) => reason switch
    {
        RejectionReason.NoCertificate => "no-certificate",
        RejectionReason.UnknownCa => "unknown-ca",
        RejectionReason.IncompleteChain => "incomplete-chain",
        RejectionReason.Expired => "expired",
        RejectionReason.NotYetValid => "not-yet-valid",
        RejectionReason.Revoked => "revoked",
        RejectionReason.WrongUsage => "wrong-eku",
        RejectionReason.InvalidIdentity => "invalid-identity",
        RejectionReason.ServerIdentityMismatch => "server-identity-mismatch",
        RejectionReason.CrlUnavailable => "crl-unavailable",
        RejectionReason.Invalid => "invalid",
        RejectionReason.RefusedByPeer => "refused-by-peer",
        RejectionReason.NotALeaf => "not-a-leaf",
        RejectionReason.TrustDomainMismatch => "trust-domain-mismatch",
        RejectionReason.ChainTooLarge => "chain-too-large",
        _ => reason.ToString(),
    };

    internal static RejectionReason FromChainFailure(ChainFailure failure) => failure switch
    {
        ChainFailure.UnknownCa => RejectionReason.UnknownCa,
        ChainFailure.IncompleteChain => RejectionReason.IncompleteChain,
        ChainFailure.Expired => RejectionReason.Expired,
        ChainFailure.NotYetValid => RejectionReason.NotYetValid,
        ChainFailure.Revoked => RejectionReason.Revoked,
        ChainFailure.WrongUsage => RejectionReason.WrongUsage,
        ChainFailure.RevocationUnknown => RejectionReason.CrlUnavailable,
        _ => RejectionReason.Invalid,
    };
}
