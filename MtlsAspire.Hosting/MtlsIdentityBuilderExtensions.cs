using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using MtlsAspire.Verification.Status;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.Hosting;

/// <summary>Gives resources SPIFFE identities from a <see cref="PkiResource"/>, and the other wiring of the mTLS app.</summary>
public static class MtlsIdentityBuilderExtensions
{
    /// <summary>The property names shown on the dashboard for a resource with an identity.</summary>
    internal static class Properties
    {
        public const string SpiffeId = "mtls.spiffe_id";
        public const string Serial = "mtls.certificate.serial";
        public const string NotAfter = "mtls.certificate.not_after";
        public const string Generation = "mtls.certificate.generation";
        public const string LoadedGeneration = "mtls.loaded.generation";
        public const string LoadedSerial = "mtls.loaded.serial";
        public const string LoadedBundle = "mtls.loaded.roots";
        public const string Expiry = "mtls.certificate.expiry_state";
    }

    /// <summary>
    /// Gives the resource its SPIFFE identity <c>spiffe://{td}/ns/{env}/sa/{name}</c>: its leaf is issued after what it
    /// waits for is healthy and before the process starts, renewed while it runs, and shown as properties (SPIFFE ID,
    /// serial, expiry, generation) with the commands "Renew certificate" and "Revoke certificate". It gets
    /// <c>Mtls__CredentialsDirectory</c>, <c>Mtls__TrustDomain</c> and, from the app model, the callers allowed to call it
    /// (<c>Mtls__Authorization__ReferencedBy__{n}</c>: the SPIFFE ID of every resource with a <c>WithReference</c> to it).
    /// Aspire's dev-certificate injection is switched off: the resource does its own (mutual) TLS. The plain-HTTP
    /// endpoint <c>http</c> is its management port, with <c>/health</c> as the resource's health check. In run mode the
    /// resource runs in the AppHost's environment (<c>DOTNET_ENVIRONMENT</c>, <c>ASPNETCORE_ENVIRONMENT</c>): a local
    /// <c>dotnet run</c> (Development) gets a 403 body that lists the allowed callers; a published app does not.
    /// </summary>
    /// <param name="builder">The resource builder.</param>
    /// <param name="pki">The issuing PKI.</param>
    public static IResourceBuilder<T> WithMtlsIdentity<T>(this IResourceBuilder<T> builder, IResourceBuilder<PkiResource> pki)
        where T : IResourceWithEnvironment, IResourceWithArgs, IResourceWithEndpoints, IResourceWithWaitSupport
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(pki);

        var name = builder.Resource.Name;
        var resources = builder.ApplicationBuilder.Resources;
        if (!builder.Resource.Annotations.OfType<EndpointAnnotation>().Any(e => e.Name == "http"))
        {
            builder.WithHttpEndpoint(name: "http");
        }

        // Degraded on the dashboard once the leaf crosses an expiry threshold (by the AppHost's clock or the service's own).
        var expiryKey = $"{name}-certificate-expiry";
        builder.ApplicationBuilder.Services.AddHealthChecks().AddCheck(expiryKey, () => pki.Resource.Lifecycle?.ExpiryOf(name) switch
        {
            null => HealthCheckResult.Healthy("no certificate yet"),
            { State: ExpiryState.Ok } ok => HealthCheckResult.Healthy(ok.Detail),
            { State: ExpiryState.Warning or ExpiryState.Critical } near => HealthCheckResult.Degraded(near.Detail),
            var bad => HealthCheckResult.Unhealthy(bad.Detail),
        });

        var expiry = pki.Resource.Options.Expiry;
        var environmentName = builder.ApplicationBuilder.Environment.EnvironmentName;
        return builder
            .WithAnnotation(new MtlsIdentityAnnotation(pki.Resource))
            .WithHealthCheck(expiryKey)
            .WithoutHttpsCertificate()
            .WithCertificateTrustScope(CertificateTrustScope.None)
            .WaitFor(pki)
            .WithHttpHealthCheck("/health", endpointName: "http")
            .WithEnvironment(context =>
            {
                if (context.ExecutionContext.IsRunMode)
                {
                    // Aspire hands a project no environment name of its own (it would run in Production): run it in the AppHost's.
                    context.EnvironmentVariables["DOTNET_ENVIRONMENT"] = environmentName;
                    context.EnvironmentVariables["ASPNETCORE_ENVIRONMENT"] = environmentName;
                }

                context.EnvironmentVariables["Mtls__CredentialsDirectory"] = pki.Resource.CredentialsDirectory(name);
                context.EnvironmentVariables["Mtls__TrustDomain"] = pki.Resource.IdentityOf(name).TrustDomain;
                context.EnvironmentVariables["Mtls__Expiry__WarningFraction"] = expiry.WarningFraction.ToString(System.Globalization.CultureInfo.InvariantCulture);
                context.EnvironmentVariables["Mtls__Expiry__CriticalRemaining"] = expiry.CriticalRemaining.ToString("c", System.Globalization.CultureInfo.InvariantCulture);
                var callers = resources
                    .Where(r => r.Annotations.OfType<MtlsIdentityAnnotation>().Any(a => a.Pki == pki.Resource)
                        && r.Annotations.OfType<ResourceRelationshipAnnotation>().Any(a => a.Type == "Reference" && ReferenceEquals(a.Resource, builder.Resource)))
                    .Select(r => pki.Resource.IdentityOf(r.Name).ToString())
                    .Order(StringComparer.Ordinal)
                    .ToList();
                for (var i = 0; i < callers.Count; i++)
                {
                    context.EnvironmentVariables[$"Mtls__Authorization__ReferencedBy__{i}"] = callers[i];
                }
            })
            .OnBeforeResourceStarted(async (resource, e, cancellationToken) =>
            {
                await e.Services.GetRequiredService<ResourceNotificationService>().WaitForDependenciesAsync(resource, cancellationToken).ConfigureAwait(false);
                var lifecycle = pki.Resource.Lifecycle ?? throw new InvalidOperationException($"The PKI '{pki.Resource.Name}' did not start.");
                await lifecycle.EnsureLeafAsync(name, cancellationToken).ConfigureAwait(false); // shown on the dashboard through LeafChanged
            })
            .WithCommand("renew-certificate", "Renew certificate", context => MtlsPkiBuilderExtensions.RunCommandAsync(pki.Resource, async lifecycle =>
                {
                    var renewed = await lifecycle.RenewAsync(name, context.CancellationToken).ConfigureAwait(false);
                    return $"{name}: new key and certificate, serial {renewed.Entry.Serial}.";
                }),
                new CommandOptions
                {
                    Description = "Issue a new key and certificate now; the service loads it without a restart.",
                    IconName = "ArrowClockwise",
                    IsHighlighted = true,
                    UpdateState = _ => PkiIsReady(pki),
                })
            .WithCommand("revoke-certificate", "Revoke certificate", context => MtlsPkiBuilderExtensions.RunCommandAsync(pki.Resource, async lifecycle =>
                {
                    var (revoked, replacement) = await lifecycle.RevokeAsync(name, context.CancellationToken).ConfigureAwait(false);
                    return $"{name}: serial {revoked.Serial} revoked (keyCompromise), every peer refuses it; new serial {replacement.Entry.Serial}.";
                }),
                new CommandOptions
                {
                    Description = "Revoke the current certificate (key compromise) and issue a new key and certificate.",
                    ConfirmationMessage = $"Revoke {name}'s certificate? Every peer refuses it from the next CRL; {name} gets a new key and certificate.",
                    IconName = "ShieldDismiss",
                    UpdateState = _ => PkiIsReady(pki),
                });
    }

    private static ResourceCommandState PkiIsReady(IResourceBuilder<PkiResource> pki) =>
        pki.Resource.Lifecycle is { IsReady: true } ? ResourceCommandState.Enabled : ResourceCommandState.Disabled;

    /// <summary>
    /// Gives the resource, in <c>Intruder__Kit</c>, a directory of certificates every service must refuse: expired,
    /// revoked, serverAuth-only (all from <paramref name="pki"/>) and one from a rogue CA — each a tls.crt/tls.key set,
    /// issued fresh before the resource starts.
    /// </summary>
    public static IResourceBuilder<T> WithRejectionKit<T>(this IResourceBuilder<T> builder, IResourceBuilder<PkiResource> pki)
        where T : IResourceWithEnvironment, IResourceWithWaitSupport
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(pki);
        var name = builder.Resource.Name;
        return builder
            .WaitFor(pki)
            .WithEnvironment(context => context.EnvironmentVariables["Intruder__Kit"] = pki.Resource.Options.KitDirectory(name))
            .OnBeforeResourceStarted(async (resource, e, cancellationToken) =>
            {
                await e.Services.GetRequiredService<ResourceNotificationService>().WaitForDependenciesAsync(resource, cancellationToken).ConfigureAwait(false);
                var lifecycle = pki.Resource.Lifecycle ?? throw new InvalidOperationException($"The PKI '{pki.Resource.Name}' did not start.");
                await lifecycle.PrepareRejectionKitAsync(name, cancellationToken).ConfigureAwait(false);
            });
    }

    /// <summary>
    /// The resource knows where <paramref name="target"/>'s mTLS endpoint is (<c>services__{target}__https__0</c>) but
    /// is <em>not</em> allowed to call it: unlike <c>WithReference</c>, no allow rule follows. For the demo of refusals.
    /// </summary>
    public static IResourceBuilder<T> WithEndpointOf<T, TTarget>(this IResourceBuilder<T> builder, IResourceBuilder<TTarget> target)
        where T : IResourceWithEnvironment
        where TTarget : IResourceWithEndpoints
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(target);
        var endpoint = target.GetEndpoint("https");
        // A callback, not WithEnvironment(name, endpoint): that overload records a "Reference" relationship, which is an allow rule.
        return builder.WithEnvironment(context => context.EnvironmentVariables[$"services__{target.Resource.Name}__https__0"] = endpoint);
    }

    /// <summary>
    /// The resource serves plain HTTP only on a Unix domain socket, <c>{state}/run/{name}/app.sock</c>, in a 0700
    /// directory: no TCP port, nothing but a process of the same user can reach it. Its health is checked by the AppHost
    /// over the socket.
    /// </summary>
    public static IResourceBuilder<T> ListenOnUnixSocket<T>(this IResourceBuilder<T> builder)
        where T : IResourceWithEnvironment
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = PkiOptions.From(builder.ApplicationBuilder);
        var directory = Path.Combine(options.StateDirectory, "run", builder.Resource.Name);
        var socket = Path.Combine(directory, "app.sock");
        var healthKey = $"{builder.Resource.Name}-unix-socket";
        builder.ApplicationBuilder.Services.AddHealthChecks().AddCheck(healthKey, new UnixSocketHealthCheck(socket));
        return builder
            .WithAnnotation(new UnixSocketAnnotation(socket))
            .WithEnvironment("ASPNETCORE_URLS", $"http://unix:{socket}")
            .WithHealthCheck(healthKey)
            .OnBeforeResourceStarted((_, _, _) =>
            {
                SecureFiles.CreatePrivateDirectory(directory);
                File.Delete(socket); // a stale socket from a previous run
                return Task.CompletedTask;
            });
    }

    /// <summary>The Unix socket of a resource set up with <see cref="ListenOnUnixSocket{T}"/>.</summary>
    public static string GetUnixSocketPath(this IResource resource) =>
        resource.Annotations.OfType<UnixSocketAnnotation>().LastOrDefault()?.SocketPath
        ?? throw new InvalidOperationException($"Resource '{resource.Name}' does not listen on a Unix socket (ListenOnUnixSocket).");

    /// <summary>A data directory for the resource, <c>{state}/data/{name}</c> (0700, created before it starts).</summary>
    public static string GetDataDirectory<T>(this IResourceBuilder<T> builder) where T : IResource
    {
        ArgumentNullException.ThrowIfNull(builder);
        var directory = Path.Combine(PkiOptions.From(builder.ApplicationBuilder).StateDirectory, "data", builder.Resource.Name);
        builder.OnBeforeResourceStarted((_, _, _) =>
        {
            SecureFiles.CreatePrivateDirectory(directory);
            return Task.CompletedTask;
        });
        return directory;
    }
}
