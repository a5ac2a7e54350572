using Microsoft.Extensions.Logging;

namespace MtlsAspire.ServiceDefaults.Telemetry;

/// <summary>Source-generated log messages of the mTLS hot paths.</summary>
internal static partial class MtlsLog
{
    [LoggerMessage(1, LogLevel.Warning,
        "mTLS {Side} {Self} refused the {PeerRole} certificate from {PeerAddress}: {Reason}. {Detail} (subject '{Subject}', claimed SPIFFE ID {ClaimedSpiffeId}, serial {Serial})")]
    public static partial void HandshakeRejected(ILogger logger, string side, string self, string peerRole, string peerAddress, string reason, string detail,
        string subject, string claimedSpiffeId, string serial);

    [LoggerMessage(2, LogLevel.Information, "mTLS credentials loaded: {SpiffeId}, serial {Serial}, valid until {NotAfter:u} (generation {Generation})")]
    public static partial void CredentialsLoaded(ILogger logger, string spiffeId, string serial, DateTimeOffset notAfter, long generation);

    [LoggerMessage(3, LogLevel.Information, "mTLS credentials rotated without restart: serial {OldSerial} -> {NewSerial}, valid until {NotAfter:u} (generation {Generation})")]
    public static partial void CredentialsRotated(ILogger logger, string oldSerial, string newSerial, DateTimeOffset notAfter, long generation);

    [LoggerMessage(4, LogLevel.Warning, "mTLS refused the new credential files in {Directory}: {Reason}. Still serving serial {CurrentSerial}.")]
    public static partial void CredentialsRefused(ILogger logger, string directory, string reason, string currentSerial);

    [LoggerMessage(5, LogLevel.Warning,
        "mTLS authorization denied {SpiffeId} calling {Callee}: allowed are {Allowed} (refused by the {Side}: {Reason}; from {PeerAddress}, subject '{Subject}', serial {Serial})")]
    public static partial void AuthorizationDenied(ILogger logger, string spiffeId, string callee, string allowed, string side, string reason, string peerAddress,
        string subject, string serial);

    [LoggerMessage(6, LogLevel.Warning,
        "mTLS authorization AUDIT: {SpiffeId} calling {Callee} would be denied (allowed are {Allowed}); let through because Mtls:Authorization:Mode is Audit (the {Side} would refuse: {Reason}; from {PeerAddress}, subject '{Subject}', serial {Serial})")]
    public static partial void AuthorizationAuditDenied(ILogger logger, string spiffeId, string callee, string allowed, string side, string reason, string peerAddress,
        string subject, string serial);

    [LoggerMessage(7, LogLevel.Debug, "mTLS authorization allowed {Caller} calling {Callee}")]
    public static partial void AuthorizationAllowed(ILogger logger, string caller, string callee);

    [LoggerMessage(8, LogLevel.Warning,
        "mTLS {Side} {Self} answered 401 to {PeerAddress}: {Reason}. {Detail} (subject '{Subject}', claimed SPIFFE ID {ClaimedSpiffeId}, serial {Serial})")]
    public static partial void Unauthenticated(ILogger logger, string side, string self, string peerAddress, string reason, string detail,
        string subject, string claimedSpiffeId, string serial);

    [LoggerMessage(9, LogLevel.Warning,
        "mTLS authorization of {Self} is in AUDIT mode (Mtls:Authorization:Mode is Audit): callers an endpoint's rule does not allow are only logged and counted, and let through")]
    public static partial void AuditMode(ILogger logger, string self);

    [LoggerMessage(EventId = 10, Message =
        "mTLS certificate of {Self} crossed the expiry {State} threshold: serial {Serial}, notAfter {NotAfter:u}, {Remaining} left, threshold {Threshold} (generation {Generation}). {Detail}")]
    public static partial void ExpiryThresholdCrossed(ILogger logger, LogLevel level, string self, string state, string serial, DateTimeOffset notAfter,
        string remaining, string threshold, long generation, string detail);

    [LoggerMessage(11, LogLevel.Debug, "mTLS checked its credential files on demand ({Result}): a peer was refused for {Reason} by generation {Generation}")]
    public static partial void ReloadedOnDemand(ILogger logger, string result, string reason, long generation);

    [LoggerMessage(12, LogLevel.Error,
        "mTLS loaded new credential files in {Directory} whose CRLs revoke this service's own certificate: {Reason}. Peers refuse serial {CurrentSerial} until a new certificate arrives; the CRLs are honoured for peers meanwhile.")]
    public static partial void OwnCertificateRevoked(ILogger logger, string directory, string reason, string currentSerial);

    [LoggerMessage(13, LogLevel.Warning,
        "mTLS has no CRL: {CrlFile} (Mtls:CrlFile) is missing or empty, so every peer is refused (crl-unavailable) until a CRL arrives there (generation {Generation})")]
    public static partial void NoCrl(ILogger logger, string crlFile, long generation);

    [LoggerMessage(14, LogLevel.Warning,
        "mTLS {Side} {Self} refused {Suppressed} more {PeerRole} certificates for {Reason} in the last {Seconds} s without logging each: only the first {PerWindow} of a window are logged in full (Mtls:RefusalLogs), and mtls.handshake.failures counts every one. The last came from {PeerAddress} (subject '{Subject}', claimed SPIFFE ID {ClaimedSpiffeId}, serial {Serial})")]
    public static partial void RefusalsNotLogged(ILogger logger, string side, string self, long suppressed, string peerRole, string reason, string seconds,
        int perWindow, string peerAddress, string subject, string claimedSpiffeId, string serial);

    [LoggerMessage(40, LogLevel.Warning,
        "mTLS {Self} did not log {Suppressed} more requests it {Outcome} in the last {Seconds} s: only the first {PerWindow} of a window are logged in full (Mtls:RefusalLogs), and {Counter} counts every one. The last was {Caller} asking {Request} from {PeerAddress}")]
    public static partial void RequestRefusalsNotLogged(ILogger logger, string self, long suppressed, string outcome, string seconds, int perWindow, string counter,
        string caller, string request, string peerAddress);

    [LoggerMessage(41, LogLevel.Warning,
        "mTLS {Self} answered {Status} on its plain management port to {Request} from {PeerAddress}: that port serves only GET and HEAD of /health, /alive and /mtls/status; the API is on the mTLS port")]
    public static partial void ManagementRefused(ILogger logger, string self, int status, string request, string peerAddress);
}
