using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>The registrations shared by the mTLS server and client.</summary>
public static class MtlsServiceCollectionExtensions
{
    /// <summary>Binds <see cref="MtlsOptions"/> from the <c>Mtls</c> section (validated at start) and registers the credential store and telemetry.</summary>
    public static IServiceCollection AddMtlsCore(this IServiceCollection services)
    {
        services.AddOptions<MtlsOptions>().BindConfiguration(MtlsOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MtlsOptions>, MtlsOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<MtlsTelemetry>();
        if (!services.Any(d => d.ServiceType == typeof(MtlsCredentialStore)))
        {
            services.AddSingleton<MtlsCredentialStore>();
            services.AddHealthChecks().AddCheck<MtlsHealthCheck>("mtls");
        }

        return services;
    }
}
