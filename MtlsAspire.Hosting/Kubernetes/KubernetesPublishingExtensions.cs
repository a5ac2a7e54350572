using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Pipelines;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.Hosting.Kubernetes;

/// <summary>Publishes the app model as Kubernetes manifests with cert-manager.</summary>
public static class KubernetesPublishingExtensions
{
    /// <summary>The name of the publish step: <c>--operation publish --step kubernetes --output-path deploy/k8s</c>.</summary>
    public const string StepName = "kubernetes";

    /// <summary>
    /// Adds the publish step <c>kubernetes</c>: plain YAML and a <c>kustomization.yaml</c> from the same model that runs
    /// locally, so each identity is a cert-manager Certificate with the SPIFFE ID its callers' rules name, and each
    /// reference is both the callee's allow rule and its NetworkPolicy. Settings: <see cref="KubernetesOptions"/>.
    /// </summary>
    /// <param name="builder">The distributed application builder.</param>
    /// <param name="pki">The PKI whose identities are published.</param>
    public static IDistributedApplicationBuilder AddKubernetesManifests(this IDistributedApplicationBuilder builder, IResourceBuilder<PkiResource> pki)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(pki);
        builder.Pipeline.AddStep(StepName, async context =>
        {
            var options = KubernetesOptions.From(builder.Configuration);
            // Like --state-dir, a relative --output-path is taken from the repository root (dotnet run runs the AppHost in
            // its project directory); without one, deploy/k8s there.
            var output = Path.GetFullPath(builder.Configuration["Pipeline:OutputPath"] is { Length: > 0 } path ? path : Path.Combine("deploy", "k8s"),
                Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..")));
            var repository = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
            var files = await BuildAsync(context.Model, pki.Resource, options, context.ExecutionContext, repository, output, context.CancellationToken).ConfigureAwait(false);
            Write(output, files.Files);
            context.Logger.LogInformation("Wrote {Count} files to {Directory}. Install with (from the repository root):\n{Commands}", files.Files.Count, output, string.Join('\n', files.Commands));
        }, requiredBy: WellKnownPipelineSteps.Publish);
        return builder;
    }

    /// <summary>The manifests of <paramref name="model"/> and the commands that install them (paths in them relative to <paramref name="repository"/> when inside it).</summary>
    internal static async Task<(IReadOnlyList<ManifestFile> Files, IReadOnlyList<string> Commands)> BuildAsync(DistributedApplicationModel model, PkiResource pki,
        KubernetesOptions options, DistributedApplicationExecutionContext executionContext, string repository, string output, CancellationToken cancellationToken)
    {
        var graph = await AppGraph.ReadAsync(model, pki, executionContext, cancellationToken).ConfigureAwait(false);
        var external = options.Ca == KubernetesCaMode.External ? ReadExternalCa(pki.Options, repository) : null;
        var manifests = new KubernetesManifests(graph, options, external?.TrustDomain ?? pki.Options.TrustDomain, pki.Options.LeafLifetime, pki.Options.StateDirectory, external);
        return (manifests.Build(), [.. manifests.Commands(RelativeTo(repository, output))]);
    }

    // Public data and paths only: the intermediate's key is named for the printed command, never read.
    private static ExternalCa ReadExternalCa(PkiOptions options, string repository)
    {
        var layout = options.Layout;
        if (!File.Exists(layout.SettingsFile))
        {
            throw new InvalidOperationException($"--MtlsAspire:Kubernetes:Ca external needs our PKI, and {layout.Root} holds none: run the AppHost once, or 'CertBootstrap init --pki {layout.Root}'.");
        }

        var settings = PkiSettings.Load(layout.SettingsFile);
        var ledger = new CertificateLedger(layout.LedgerFile);
        var intermediate = ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active) is [.., var active] ? active
            : throw new InvalidOperationException($"{layout.Root} has no active intermediate CA.");
        var directory = layout.IntermediateDirectory(intermediate.Serial);
        return new ExternalCa(
            settings.TrustDomain,
            File.ReadAllText(layout.BundleFile),
            RelativeTo(repository, PkiLayout.CertificateIn(directory)),
            RelativeTo(repository, PkiLayout.KeyIn(directory)),
            RelativeTo(repository, layout.CrlFile(intermediate.IssuerSerial!)));
    }

    // A path inside the repository as the README's commands run it (from the repository root); any other as it is.
    private static string RelativeTo(string repository, string path) =>
        path.StartsWith(repository + Path.DirectorySeparatorChar, StringComparison.Ordinal) ? Path.GetRelativePath(repository, path) : path;

    private static void Write(string directory, IReadOnlyList<ManifestFile> files)
    {
        Directory.CreateDirectory(directory);
        foreach (var file in files)
        {
            SecureFiles.ReplaceAtomically(Path.Combine(directory, file.Name), file.Text, SecureFiles.Public);
        }

        // A file an earlier publish wrote and this one does not (a resource left the model) would otherwise linger.
        var written = files.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var stale in Directory.EnumerateFiles(directory, "*.yaml").Where(f => !written.Contains(Path.GetFileName(f))))
        {
            if (File.ReadLines(stale).FirstOrDefault()?.StartsWith("# Generated by the MtlsAspire AppHost", StringComparison.Ordinal) == true)
            {
                File.Delete(stale);
            }
        }
    }
}
