using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.Verification.Status;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace MtlsAspire.ServiceDefaults;

/// <summary>
/// The defaults every service gets, shaped like the Aspire service-defaults template: OpenTelemetry (logs, metrics,
/// traces; OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set), health checks, service discovery and standard
/// resilience for HttpClients. mTLS comes from <c>AddMtlsServer</c> and <c>AddMtlsClient</c>.
/// </summary>
public static class Extensions
{
    private static readonly ManagementEndpointMetadata s_management = new();

    /// <summary>Adds telemetry, health checks, service discovery and resilience.</summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();
        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });

        return builder;
    }

    /// <summary>
    /// Logs, metrics (ASP.NET Core, HttpClient, runtime, mTLS) and traces, exported over OTLP when configured
    /// (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, unless <c>OTEL_SDK_DISABLED=true</c>). Health probes on the management endpoint
    /// produce neither spans nor Information logs; HttpClient and resilience log Warnings and above; with OTLP the console
    /// keeps only what an operator needs there (<see cref="LogVolume"/>). Traces are sampled at
    /// <c>Mtls:Telemetry:TraceSampleRatio</c> (<see cref="TelemetryOptions"/>).
    /// </summary>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var exports = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])
            && !string.Equals(builder.Configuration["OTEL_SDK_DISABLED"], "true", StringComparison.OrdinalIgnoreCase);
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });
        builder.Services.Configure<LoggerFilterOptions>(options => LogVolume.AddDefaults(options, exports));
        // Health probes stay out of the logs (their Information lines) as they stay out of the traces (filter below).
        builder.Logging.AddSampler<HealthProbeLogSampler>();

        builder.Services.AddOptions<TelemetryOptions>().BindConfiguration(TelemetryOptions.SectionName).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TelemetryOptions>, TelemetryOptionsValidator>());
        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(MtlsTelemetry.MeterName))
            .WithTracing(tracing => tracing
                .SetSampler(services => new MtlsTraceSampler(services.GetRequiredService<IOptions<TelemetryOptions>>().Value.TraceSampleRatio))
                .AddSource(builder.Environment.ApplicationName)
                .AddSource(MtlsTelemetry.ActivitySourceName)
                .AddAspNetCoreInstrumentation(options => options.Filter = context => !ManagementPaths.IsHealthProbe(context))
                .AddHttpClientInstrumentation());

        if (exports)
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>A liveness check ("self", tagged live); mTLS adds a readiness check of the loaded certificate.</summary>
    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        return builder;
    }

    /// <summary>
    /// Maps <c>/health</c> (every check) and <c>/alive</c> (checks tagged live), anonymous, and for a service with mTLS
    /// credentials <c>/mtls/status</c>: the generation in use as <see cref="CredentialStatus"/> JSON (public certificate
    /// data only). Each carries <see cref="ManagementEndpointMetadata"/>: with <c>AddMtlsServer</c> they answer only GET and
    /// HEAD, only on the plain-HTTP management endpoint, never on the mTLS one.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        // Anonymous, unlike every other endpoint of an mTLS service: probes carry no certificate. Mapped for every method,
        // so that routing matches them whatever the method and ManagementPortPolicy can answer 405 to all but GET and HEAD.
        app.MapHealthChecks(ManagementPaths.Health).AllowAnonymous().WithMetadata(s_management);
        app.MapHealthChecks(ManagementPaths.Alive, new HealthCheckOptions { Predicate = check => check.Tags.Contains("live") }).AllowAnonymous().WithMetadata(s_management);
        if (app.Services.GetService<IServiceProviderIsService>()?.IsService(typeof(MtlsCredentialStore)) == true)
        {
            // The method check is for a service without AddMtlsServer (no ManagementPortPolicy): a client only, or plain HTTP.
            app.Map(ManagementPaths.Status, (HttpContext context, MtlsCredentialStore store) =>
                    HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method)
                        ? Results.Json(store.Status(), CredentialStatus.Json)
                        : Results.StatusCode(StatusCodes.Status405MethodNotAllowed))
                .AllowAnonymous().WithMetadata(s_management);
        }

        return app;
    }
}
