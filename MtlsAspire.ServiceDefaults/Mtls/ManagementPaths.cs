using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// The management paths: health and credential status, served only on the plain management endpoint. Which requests are
/// served is decided on the endpoint routing matched (<see cref="ManagementEndpointMetadata"/>); the path tests here only
/// keep probes out of logs and traces, before routing has run.
/// </summary>
public static class ManagementPaths
{
    /// <summary>The credentials in use (<see cref="MtlsAspire.Verification.Status.CredentialStatus"/>), for whoever rotates them.</summary>
    public const string Status = MtlsAspire.Verification.Status.CredentialStatus.Path;

    /// <summary>Readiness: every health check.</summary>
    public const string Health = "/health";

    /// <summary>Liveness: only checks tagged "live".</summary>
    public const string Alive = "/alive";

    /// <summary>True for <see cref="Health"/> and <see cref="Alive"/>, as routing matches them (any case, a trailing slash or not).</summary>
    public static bool IsHealth(PathString path) => Is(path, Health) || Is(path, Alive);

    /// <summary>True for every management path, as routing matches them: <see cref="Health"/>, <see cref="Alive"/> and <see cref="Status"/>.</summary>
    public static bool IsManagement(PathString path) => IsHealth(path) || Is(path, Status);

    /// <summary>True for a request to a management path on the plain management endpoint (not over TLS): a probe, kept out of logs and traces.</summary>
    public static bool IsHealthProbe(HttpContext context) =>
        context.Features.Get<ITlsHandshakeFeature>() is null && IsManagement(context.Request.Path);

    private static bool Is(PathString path, string management) =>
        path.Value is { } value && value.AsSpan().TrimEnd('/').Equals(management, StringComparison.OrdinalIgnoreCase);
}
