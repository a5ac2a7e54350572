using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>Ready while the loaded certificate is valid; degraded in its last tenth of life (renewal is late).</summary>
internal sealed class MtlsHealthCheck(MtlsCredentialStore store, TimeProvider time) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var leaf = store.Current.Leaf;
        var now = time.GetUtcNow().UtcDateTime;
        var notAfter = leaf.NotAfter.ToUniversalTime();
        var lifetime = notAfter - leaf.NotBefore.ToUniversalTime();
        var description = $"{store.Current.Identity}, serial {leaf.SerialNumber}, valid until {notAfter:u}";
        return Task.FromResult(now > notAfter
            ? HealthCheckResult.Unhealthy($"the certificate expired: {description}")
            : notAfter - now < lifetime / 10
                ? HealthCheckResult.Degraded($"the certificate was not renewed in time: {description}")
                : HealthCheckResult.Healthy(description));
    }
}
