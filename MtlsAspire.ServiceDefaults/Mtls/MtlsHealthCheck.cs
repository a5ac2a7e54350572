using Microsoft.Extensions.Diagnostics.HealthChecks;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// Ready while the loaded leaf is comfortably valid. By the <c>Mtls:Expiry</c> thresholds (<see cref="ExpiryPolicy"/>):
/// Warning (renewal is late) and Critical (expiry is near) are Degraded, Expired and NotYetValid Unhealthy; the
/// description is the verdict's sentence (thresholds, notBefore, notAfter, now).
/// </summary>
internal sealed class MtlsHealthCheck(MtlsCredentialStore store) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var current = store.Current;
        var expiry = store.Expiry();
        var description = $"{current.Identity}, serial {current.Leaf.SerialNumber}, generation {current.Generation}: {expiry.Detail}";
        if (current.OwnRevocation is { } revoked)
        {
            // Valid dates but revoked: every peer refuses this certificate until a new one arrives.
            return Task.FromResult(HealthCheckResult.Unhealthy($"{current.Identity}, serial {current.Leaf.SerialNumber}: this service's own certificate is revoked ({revoked}); peers refuse it until a new one arrives"));
        }

        return Task.FromResult(expiry.State switch
        {
            ExpiryState.Ok => HealthCheckResult.Healthy(description),
            ExpiryState.Warning or ExpiryState.Critical => HealthCheckResult.Degraded(description),
            _ => HealthCheckResult.Unhealthy(description),
        });
    }
}
