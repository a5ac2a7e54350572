using MtlsAspire.Verification.Status;

namespace MtlsAspire.CertBootstrap.Fleet;

/// <summary>One service as last seen: what it reports having loaded, or why it could not be asked.</summary>
/// <param name="Service">The service name.</param>
/// <param name="Status">Its report, when it answered.</param>
/// <param name="Problem">Why there is no report (not running, not answering, not a status document).</param>
public sealed record FleetMember(string Service, CredentialStatus? Status, string? Problem)
{
    /// <summary>True when the service answered with a status.</summary>
    public bool Answered => Status is not null;
}

/// <summary>The running services whose loaded credentials a rotation waits for.</summary>
public interface IFleet
{
    /// <summary>Asks every service what it has loaded now.</summary>
    Task<IReadOnlyList<FleetMember>> ObserveAsync(CancellationToken cancellationToken);
}
