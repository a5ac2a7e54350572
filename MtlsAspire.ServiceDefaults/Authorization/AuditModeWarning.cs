using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Authorization;

/// <summary>Says at start, as a Warning, that caller rules only report (<c>Mtls:Authorization:Mode=Audit</c>): nobody should run that way unknowingly.</summary>
internal sealed class AuditModeWarning(IOptions<MtlsOptions> options, MtlsCredentialStore store, ILogger<AuditModeWarning> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.Authorization.Mode == AuthorizationMode.Audit)
        {
            MtlsLog.AuditMode(logger, store.Current.Identity.ToString());
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
