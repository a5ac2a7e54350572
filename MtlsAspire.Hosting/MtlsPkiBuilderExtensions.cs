using System.Collections.Immutable;
using System.Globalization;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Fleet;
using MtlsAspire.CertBootstrap.Ledger;

namespace MtlsAspire.Hosting;

/// <summary>
/// The private CA as an Aspire resource. Aspire has server certificates for HTTPS endpoints and CA bundles, but no
/// mutual TLS between services, no per-resource identity and no lifecycle: this integration adds them.
/// </summary>
public static class MtlsPkiBuilderExtensions
{
    /// <summary>The property names shown on the dashboard.</summary>
    internal static class Properties
    {
        public const string TrustDomain = "pki.trust_domain";
        public const string RootSubject = "pki.root.subject";
        public const string RootSerial = "pki.root.serial";
        public const string RootNotAfter = "pki.root.not_after";
        public const string IntermediateSubject = "pki.intermediate.subject";
        public const string IntermediateSerial = "pki.intermediate.serial";
        public const string IntermediateNotAfter = "pki.intermediate.not_after";
        public const string CrlNumber = "pki.crl.number";
        public const string CrlNextUpdate = "pki.crl.next_update";
        public const string LiveLeaves = "pki.leaves";
        public const string Directory = "pki.directory";
        public const string Activity = "pki.activity";
        public const string RootRotation = "pki.root_rotation";
    }

    /// <summary>
    /// The service key of the <see cref="TimeProvider"/> the PKI's lifecycle runs on (renewal, expiry thresholds, CRLs);
    /// the system clock unless one is registered under this key (tests register a fake clock; Aspire's own timers stay real).
    /// </summary>
    public const string TimeProviderKey = "mtls-pki";

    /// <summary>
    /// Adds the private CA: on start it creates (first run) or opens the PKI in <c>{state}/pki</c>, publishes its CRLs,
    /// then renews every identity's leaf at 2/3 of its lifetime and re-signs CRLs while the app runs. Its console log is
    /// the lifecycle timeline; its commands rotate the intermediate and publish the CRLs.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="name">The resource name.</param>
    /// <remarks>
    /// The root passphrase (<c>MTLS_ROOT_PASSPHRASE</c>) is read here and removed from the AppHost's environment, so that
    /// no child process (they inherit the AppHost's environment) ever sees it. So is every variable a service would read
    /// as an <c>Mtls</c> setting (<c>Mtls__*</c>, <c>Mtls:*</c>, any case, also under <c>DOTNET_</c> and <c>ASPNETCORE_</c>):
    /// a service's settings, its allowed callers above all, come only from the app model. The pki resource's log names
    /// each dropped variable in a Warning (never its value).
    /// </remarks>
    public static IResourceBuilder<PkiResource> AddMtlsPki(this IDistributedApplicationBuilder builder, [ResourceName] string name)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);

        var options = PkiOptions.From(builder);
        var passphrase = PassphraseSource.FromFileOrEnvironment(builder.Configuration[$"{PkiOptions.SectionName}:PassphraseFile"]);
        Environment.SetEnvironmentVariable(PassphraseSource.EnvironmentVariable, null);
        var dropped = InheritedMtlsSettings.RemoveFromEnvironment();

        var pki = new PkiResource(name, options, passphrase) { EndpointsFile = new EndpointsFile(Path.Combine(options.StateDirectory, "endpoints.json")) };
        var healthKey = $"{name}-pki";
        builder.Services.AddHealthChecks().AddCheck(healthKey, () => Health(pki.Lifecycle));

        builder.Eventing.Subscribe<ResourceEndpointsAllocatedEvent>((e, _) =>
        {
            RecordEndpoints(pki, e.Resource);
            return Task.CompletedTask;
        });

        return builder.AddResource(pki)
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = "PKI",
                State = KnownResourceStates.NotStarted,
                Properties = [new(Properties.Directory, options.PkiDirectory) { DisplayName = "Directory" }],
            })
            .WithHealthCheck(healthKey)
            .ExcludeFromManifest()
            .OnInitializeResource((resource, e, cancellationToken) =>
            {
                var stopping = e.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
                _ = Task.Run(() => RunAsync(resource, e, builder.Resources, dropped, stopping), CancellationToken.None);
                return Task.CompletedTask;
            })
            .WithCommand("rotate-intermediate", "Rotate intermediate", context => RunCommandAsync(pki, async lifecycle =>
                {
                    var rotated = await lifecycle.RotateIntermediateAsync("dashboard", context.CancellationToken).ConfigureAwait(false);
                    return $"New intermediate {rotated.Serial}, valid until {rotated.NotAfter:u}; every leaf moves to it within seconds.";
                }),
                new CommandOptions
                {
                    Description = "Issue a new intermediate CA under the same root; the renewal loop moves every leaf to it progressively, no restart.",
                    ConfirmationMessage = "Rotate the intermediate CA? Leaves move to it within seconds; the old one stays trusted until its last leaf expires.",
                    IconName = "ArrowSync",
                    IsHighlighted = true,
                    UpdateState = _ => IsReady(pki),
                })
            .WithCommand("rotate-root", "Rotate root", context => RunCommandAsync(pki, async lifecycle =>
                {
                    var steps = await lifecycle.RotateRootAsync("dashboard", context.CancellationToken).ConfigureAwait(false);
                    return $"Root rotated in {steps.Count} step(s): {string.Join("; ", steps.Select(s => $"{s.Name} {Verification.Durations.Took(s.Took)}"))}.";
                }),
                new CommandOptions
                {
                    Description = "Replace the root CA in three steps, each once every service loaded the previous one: add the new root to every ca.crt; " +
                        "sign a new intermediate with it and move every leaf; drop the old root. No restart.",
                    ConfirmationMessage = "Rotate the root CA? It takes three steps; the pki state and console log show each.",
                    IconName = "ShieldKeyhole",
                    UpdateState = _ => IsReady(pki),
                })
            .WithCommand("abandon-root-rotation", "Abandon root rotation", context => RunCommandAsync(pki, async lifecycle =>
                {
                    var root = await lifecycle.AbandonRootRotationAsync("dashboard", context.CancellationToken).ConfigureAwait(false);
                    return $"Abandoned: {root.Subject} left every ca.crt; trust is as before.";
                }),
                new CommandOptions
                {
                    Description = "Abandon a root rotation stuck at step 1 (a service never loaded the new bundle): the new root, which signed nothing, leaves the bundle again.",
                    ConfirmationMessage = "Abandon the root rotation? The new root is removed again; nothing it signed exists.",
                    IconName = "DismissCircle",
                    UpdateState = _ => IsReady(pki),
                })
            .WithCommand("fire-drill", "Run fire drill", context => RunCommandAsync(pki, async lifecycle =>
                {
                    var services = Identities(pki, builder.Resources).Select(r => r.Name).ToList();
                    var report = await lifecycle.RunFireDrillAsync(services, () => pki.Traffic.Count, "dashboard", context.CancellationToken).ConfigureAwait(false);
                    var traffic = report.Failed + report.Succeeded == 0 ? " (no request was seen: is the shopper running?)" : string.Empty;
                    return $"Fire drill done: {report.Failed} failed requests out of {report.Failed + report.Succeeded}{traffic}; " +
                        string.Join(", ", report.Steps.Select(s => $"{s.Name} {Verification.Durations.Took(s.Took)}")) + ".";
                }),
                new CommandOptions
                {
                    Description = "While traffic runs: renew every leaf, rotate the intermediate, revoke and replace one service's certificate; report failed requests and step times.",
                    ConfirmationMessage = "Run the fire drill? Every certificate is replaced and one is revoked, under traffic.",
                    IconName = "Fire",
                    IsHighlighted = true,
                    UpdateState = _ => IsReady(pki),
                })
            .WithCommand("publish-crls", "Publish CRLs", context => RunCommandAsync(pki, async lifecycle =>
                {
                    await lifecycle.PublishCrlsAsync(context.CancellationToken).ConfigureAwait(false);
                    return $"CRL number {lifecycle.LastIntermediateCrl?.Number} published to every service.";
                }),
                new CommandOptions
                {
                    Description = "Re-sign every CA's CRL and republish crl.pem to every service directory.",
                    IconName = "DocumentSync",
                    IsHighlighted = true,
                    UpdateState = _ => IsReady(pki),
                });
    }

    internal static IEnumerable<IResource> Identities(PkiResource pki, IResourceCollection resources) =>
        resources.Where(r => r.Annotations.OfType<MtlsIdentityAnnotation>().Any(a => a.Pki == pki));

    private static ResourceCommandState IsReady(PkiResource pki) =>
        pki.Lifecycle is { IsReady: true } ? ResourceCommandState.Enabled : ResourceCommandState.Disabled;

    private static async Task RunAsync(PkiResource pki, InitializeResourceEvent e, IResourceCollection resources, IReadOnlyList<string> droppedVariables,
        CancellationToken stopping)
    {
        var notifications = e.Notifications;
        var timeline = e.Logger;
        var consoleLogger = e.Services.GetRequiredService<ILoggerFactory>().CreateLogger($"MtlsAspire.Hosting.{pki.Name}");
        var log = new TeeLogger(timeline, consoleLogger);
        foreach (var variable in droppedVariables)
        {
            log.LogWarning("Dropped {Variable} from the AppHost's environment before any resource started: services read it as an Mtls setting " +
                "(an extra allowed caller, say), and their Mtls settings come only from the app model. Set one for a resource with WithEnvironment.", variable);
        }

        var time = e.Services.GetKeyedService<TimeProvider>(TimeProviderKey) ?? TimeProvider.System;
        var lifecycle = new CertificateLifecycle(pki.Options, pki.Passphrase, time, log);
        pki.Lifecycle = lifecycle;
        lifecycle.LeafChanged += change => _ = PublishLeafAsync(pki, resources, notifications, change);
        lifecycle.AuthorityChanged += () => _ = PublishPkiAsync(pki, resources, notifications);
        lifecycle.FleetObserved += members => _ = PublishLoadedAsync(resources, notifications, members);
        lifecycle.Fleet = new HttpFleet(() => StatusUrls(pki, resources, notifications));

        await notifications.PublishUpdateAsync(pki, s => s with { State = KnownResourceStates.Starting, StartTimeStamp = lifecycle.Now.UtcDateTime }).ConfigureAwait(false);
        try
        {
            await lifecycle.BootstrapAsync(stopping).ConfigureAwait(false);
            foreach (var resource in resources)
            {
                RecordEndpoints(pki, resource);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Any failure (wrong passphrase, corrupt pki.json or ledger.db, unwritable directory) is a state, not a hang.
            log.LogError("the PKI could not be opened: {Message}. Nothing was changed; fix the cause and start again.", ex.Message);
            await notifications.PublishUpdateAsync(pki, s => s with { State = new ResourceStateSnapshot(KnownResourceStates.FailedToStart, KnownResourceStateStyles.Error) })
                .ConfigureAwait(false);
            return;
        }

        await PublishPkiAsync(pki, resources, notifications).ConfigureAwait(false);
        await notifications.PublishUpdateAsync(pki, s => s with { State = new ResourceStateSnapshot(KnownResourceStates.Running, KnownResourceStateStyles.Success) })
            .ConfigureAwait(false);

        var identities = Identities(pki, resources).ToList();
        var loggerService = e.Services.GetRequiredService<ResourceLoggerService>();
        foreach (var identity in identities)
        {
            var counts = identity.Annotations.OfType<RequestOutcomesAnnotation>().Any() ? pki.Traffic : null;
            _ = Task.Run(() => WatchLogsAsync(loggerService, identity, log, counts, stopping), CancellationToken.None);
        }

        try
        {
            await lifecycle.RunAsync(() => [.. identities.Select(r => r.Name)], stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }

        await notifications.PublishUpdateAsync(pki, s => s with { State = KnownResourceStates.Finished, StopTimeStamp = lifecycle.Now.UtcDateTime }).ConfigureAwait(false);
    }

    /// <summary>
    /// A service that refuses a new credential set says so in its own log; the timeline repeats it. A traffic source's
    /// request outcomes are counted (for the fire drill).
    /// </summary>
    private static async Task WatchLogsAsync(ResourceLoggerService loggers, IResource resource, ILogger timeline, TrafficCounter? traffic, CancellationToken stopping)
    {
        try
        {
            await foreach (var batch in loggers.WatchAsync(resource).WithCancellation(stopping).ConfigureAwait(false))
            {
                foreach (var line in batch)
                {
                    if (line.Content.Contains("refused the new credential files", StringComparison.Ordinal))
                    {
                        timeline.LogWarning("{Service} refused a reload: {Line}", resource.Name, line.Content);
                    }

                    traffic?.Observe(line.Content);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Runs a command against the running PKI; a failure is the command's result with the reason, never an exception.</summary>
    internal static async Task<ExecuteCommandResult> RunCommandAsync(PkiResource pki, Func<CertificateLifecycle, Task<string>> command)
    {
        if (pki.Lifecycle is not { IsReady: true } lifecycle)
        {
            return CommandResults.Failure($"The PKI '{pki.Name}' is not running: see its console log for why.");
        }

        try
        {
            var message = await command(lifecycle).ConfigureAwait(false);
            return new ExecuteCommandResult { Success = true, Message = message };
        }
        catch (Exception e) when (e is PkiException or IOException or UnauthorizedAccessException)
        {
            return CommandResults.Failure(e.Message);
        }
    }

    private static Task PublishPkiAsync(PkiResource pki, IResourceCollection resources, ResourceNotificationService notifications)
    {
        var lifecycle = pki.Lifecycle;
        if (lifecycle is not { IsReady: true })
        {
            return Task.CompletedTask;
        }

        var ledger = lifecycle.Authority.Ledger;
        var root = ledger.Find(CertificateKind.Root, CertificateStatus.Active) is [.., var r] ? r : null;
        var intermediate = ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active) is [.., var i] ? i : null;
        var identities = resources.Where(r => r.Annotations.OfType<MtlsIdentityAnnotation>().Any(a => a.Pki == pki)).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        // The identities' current leaves (not the rejection kit's).
        var leaves = ledger.Find(CertificateKind.Leaf, CertificateStatus.Active).Count(l => l.Service is { } service && identities.Contains(service) && l.NotAfter > lifecycle.Now);
        var crl = lifecycle.LastIntermediateCrl;
        ResourcePropertySnapshot[] properties =
        [
            Highlighted(Properties.TrustDomain, "Trust domain", lifecycle.Authority.Settings.TrustDomain),
            Highlighted(Properties.RootSubject, "Root", root?.Subject),
            Highlighted(Properties.RootSerial, "Root serial", root?.Serial),
            Highlighted(Properties.RootNotAfter, "Root expires", Format(root?.NotAfter)),
            Highlighted(Properties.IntermediateSubject, "Intermediate", intermediate?.Subject),
            Highlighted(Properties.IntermediateSerial, "Intermediate serial", intermediate?.Serial),
            Highlighted(Properties.IntermediateNotAfter, "Intermediate expires", Format(intermediate?.NotAfter)),
            Highlighted(Properties.CrlNumber, "CRL number", crl?.Number?.ToString(CultureInfo.InvariantCulture)),
            Highlighted(Properties.CrlNextUpdate, "CRL next update", Format(crl?.NextUpdate)),
            Highlighted(Properties.LiveLeaves, "Live leaves", leaves.ToString(CultureInfo.InvariantCulture)),
            Highlighted(Properties.Activity, "Operation", lifecycle.Activity ?? "none"),
            Highlighted(Properties.RootRotation, "Root rotation", lifecycle.Authority.RootRotation().Describe()),
        ];
        var activity = lifecycle.Activity;
        return notifications.PublishUpdateAsync(pki, s => s with
        {
            Properties = Merge(s.Properties, properties),
            // A rotation is a visible state of the resource; when it ends the state is Running again.
            State = s.State?.Text is { } text && (text == KnownResourceStates.Running || text.StartsWith(OperationStatePrefix, StringComparison.Ordinal))
                ? activity is null
                    ? new ResourceStateSnapshot(KnownResourceStates.Running, KnownResourceStateStyles.Success)
                    : new ResourceStateSnapshot(OperationStatePrefix + StateText(activity), KnownResourceStateStyles.Info)
                : s.State,
        });
    }

    private const string OperationStatePrefix = "Running: ";

    /// <summary>"rotate-root (dashboard): root rotation step 1 of 3: …" → "rotate-root, step 1 of 3".</summary>
    internal static string StateText(string activity)
    {
        var operation = activity.Split([" (", ":"], 2, StringSplitOptions.None)[0];
        var step = System.Text.RegularExpressions.Regex.Match(activity, @"step \d of 3");
        return step.Success ? $"{operation}, {step.Value}" : operation;
    }

    /// <summary>The status URL of every identity that is running (its management endpoint, plain HTTP).</summary>
    private static Dictionary<string, Uri> StatusUrls(PkiResource pki, IResourceCollection resources, ResourceNotificationService notifications)
    {
        var urls = new Dictionary<string, Uri>(StringComparer.Ordinal);
        foreach (var resource in Identities(pki, resources).OfType<IResourceWithEndpoints>())
        {
            if (notifications.TryGetCurrentState(resource.Name, out var current) && current.Snapshot.State?.Text == KnownResourceStates.Running
                && resource.GetEndpoints().FirstOrDefault(e => e.EndpointName == "http") is { IsAllocated: true } http)
            {
                urls[resource.Name] = new Uri(new Uri(http.Url), Verification.Status.CredentialStatus.Path);
            }
        }

        return urls;
    }

    /// <summary>What each service reports having loaded, as properties of its resource.</summary>
    private static async Task PublishLoadedAsync(IResourceCollection resources, ResourceNotificationService notifications, IReadOnlyList<FleetMember> members)
    {
        foreach (var member in members)
        {
            if (member.Status is not { } status || resources.FirstOrDefault(r => r.Name == member.Service) is not { } resource)
            {
                continue;
            }

            ResourcePropertySnapshot[] properties =
            [
                Highlighted(MtlsIdentityBuilderExtensions.Properties.LoadedGeneration, "Loaded generation", status.Generation.ToString(CultureInfo.InvariantCulture)),
                Highlighted(MtlsIdentityBuilderExtensions.Properties.LoadedSerial, "Serving serial", status.Leaf.Serial),
                Highlighted(MtlsIdentityBuilderExtensions.Properties.LoadedBundle, "Trusted roots",
                    string.Join(", ", status.Bundle.Roots.Select(r => r.Serial.Length > 8 ? r.Serial[..8] : r.Serial))),
                Highlighted(MtlsIdentityBuilderExtensions.Properties.Expiry, "Expiry", status.Expiry.State.ToString()),
            ];
            // Only when something changed: the dashboard is told once a second otherwise.
            await notifications.PublishUpdateAsync(resource, s => properties.All(update => s.Properties.Any(p => p.Name == update.Name && Equals(p.Value, update.Value)))
                ? s
                : s with { Properties = Merge(s.Properties, properties) }).ConfigureAwait(false);
        }
    }

    private static Task PublishLeafAsync(PkiResource pki, IResourceCollection resources, ResourceNotificationService notifications, LeafChange change)
    {
        _ = PublishPkiAsync(pki, resources, notifications);
        if (resources.FirstOrDefault(r => r.Name == change.Service) is not { } resource)
        {
            return Task.CompletedTask;
        }

        var generation = pki.Lifecycle!.Authority.Ledger.All().Count(e => e.Kind == CertificateKind.Leaf && e.Service == change.Service);
        ResourcePropertySnapshot[] properties =
        [
            Highlighted(MtlsIdentityBuilderExtensions.Properties.SpiffeId, "SPIFFE ID", change.Leaf.SpiffeId.ToString()),
            Highlighted(MtlsIdentityBuilderExtensions.Properties.Serial, "Certificate serial", change.Leaf.Entry.Serial),
            Highlighted(MtlsIdentityBuilderExtensions.Properties.NotAfter, "Certificate expires", Format(change.Leaf.Entry.NotAfter)),
            Highlighted(MtlsIdentityBuilderExtensions.Properties.Generation, "Certificate generation", generation.ToString(CultureInfo.InvariantCulture)),
        ];
        return notifications.PublishUpdateAsync(resource, s => s with { Properties = Merge(s.Properties, properties) });
    }

    /// <summary>The pki resource's health: bootstrapped, its CRL current, and every renewal of the last tick through.</summary>
    internal static HealthCheckResult Health(CertificateLifecycle? lifecycle) => lifecycle switch
    {
        null or { IsReady: false } => HealthCheckResult.Unhealthy("the PKI is not bootstrapped"),
        { CrlStaleSince: { } stale } => HealthCheckResult.Unhealthy($"the intermediate CRL went stale at {stale:u}; services refuse peers until it is republished"),
        { RenewalFailures.Count: > 0 } => HealthCheckResult.Unhealthy(
            $"renewal failed for {string.Join("; ", lifecycle.RenewalFailures.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key} {f.Value}"))}" +
            "; those services keep serving their current certificates, and the next tick tries again"),
        _ => HealthCheckResult.Healthy(),
    };

    private static void RecordEndpoints(PkiResource pki, IResource resource)
    {
        var identity = resource.Annotations.OfType<MtlsIdentityAnnotation>().Any(a => a.Pki == pki);
        var socket = resource.Annotations.OfType<UnixSocketAnnotation>().FirstOrDefault()?.SocketPath;
        if (!identity && socket is null)
        {
            return;
        }

        Uri? Allocated(string endpoint, string path) =>
            resource is IResourceWithEndpoints withEndpoints && withEndpoints.GetEndpoints().FirstOrDefault(e => e.EndpointName == endpoint) is { IsAllocated: true } allocated
                ? new Uri(new Uri(allocated.Url), path)
                : null;

        pki.EndpointsFile.Set(resource.Name, new ResourceEndpoints(
            Allocated("https", "/"),
            socket is null ? Allocated("http", "/health") : new Uri("http://localhost/health"),
            socket,
            identity ? pki.CredentialsDirectory(resource.Name) : null,
            identity ? pki.IdentityOf(resource.Name).ToString() : null));
    }

    internal static ResourcePropertySnapshot Highlighted(string name, string displayName, object? value) =>
        new(name, value) { DisplayName = displayName, IsHighlighted = true };

    internal static string? Format(DateTimeOffset? at) => at?.UtcDateTime.ToString("u", CultureInfo.InvariantCulture);

    internal static ImmutableArray<ResourcePropertySnapshot> Merge(ImmutableArray<ResourcePropertySnapshot> current, IReadOnlyCollection<ResourcePropertySnapshot> updates)
    {
        var names = updates.Select(u => u.Name).ToHashSet(StringComparer.Ordinal);
        return [.. current.Where(p => !names.Contains(p.Name)), .. updates];
    }

    /// <summary>Writes each line to the dashboard's console log of the pki resource and to the AppHost's console.</summary>
    private sealed class TeeLogger(ILogger first, ILogger second) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => first.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => first.IsEnabled(logLevel) || second.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            first.Log(logLevel, eventId, state, exception, formatter);
            second.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
