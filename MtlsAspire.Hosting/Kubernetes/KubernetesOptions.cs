using Microsoft.Extensions.Configuration;
using MtlsAspire.Verification;
using MtlsAspire.Verification.Identity;

namespace MtlsAspire.Hosting.Kubernetes;

/// <summary>Where the cluster's issuing CA comes from.</summary>
public enum KubernetesCaMode
{
    /// <summary>cert-manager makes a self-signed root and an intermediate in the cluster (a demo cluster).</summary>
    SelfSigned,

    /// <summary>
    /// Bring your own CA: the intermediate of our CertBootstrap PKI becomes the CA Issuer's Secret (created by a printed
    /// <c>kubectl create secret</c> command, never in a manifest); its root stays offline.
    /// </summary>
    External,
}

/// <summary>How each pod gets its key and certificate.</summary>
public enum KubernetesCredentials
{
    /// <summary>A cert-manager Certificate per service; its Secret is shared by the service's replicas.</summary>
    Secret,

    /// <summary>cert-manager's CSI driver: each pod its own key (never in a Secret) and certificate, named by its ServiceAccount.</summary>
    Csi,
}

/// <summary>
/// The Kubernetes publish settings, section <c>MtlsAspire:Kubernetes</c> (pass as <c>--MtlsAspire:Kubernetes:Namespace shop</c>):
/// <c>Namespace</c> (default <c>mtls-aspire</c>; it is also the environment in every SPIFFE ID), <c>Ca</c>
/// (<c>self-signed</c> or <c>external</c>), <c>Credentials</c> (<c>secret</c> or <c>csi</c>), <c>ImageRegistry</c> and <c>ImageTag</c> of the service images,
/// <c>KubectlImage</c>, <c>DashboardImage</c>, <c>Dashboard</c> (true: the Aspire dashboard as the in-cluster OTLP
/// collector), <c>OtlpEndpoint</c> (another collector), <c>CrlValidity</c> (1h), <c>CrlSchedule</c> and
/// <c>AllowExtraRootsForTrustDomain</c> (false) and <c>TrustAdminGroup</c> (<c>mtls-trust-admins</c>).
/// </summary>
public sealed record KubernetesOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "MtlsAspire:Kubernetes";

    /// <summary>The namespace, and the environment (<c>ns</c>) of every SPIFFE ID in the cluster.</summary>
    public string Namespace { get; init; } = "mtls-aspire";

    /// <summary>Where the issuing CA comes from.</summary>
    public KubernetesCaMode Ca { get; init; } = KubernetesCaMode.SelfSigned;

    /// <summary>How each pod gets its key and certificate.</summary>
    public KubernetesCredentials Credentials { get; init; } = KubernetesCredentials.Secret;

    /// <summary>
    /// Self-signed mode: the root generations every bundle trusts (<c>Roots</c>, e.g. <c>1,2</c>; default 1). Root 1 is
    /// <c>mtls-root-ca</c>, root N <c>mtls-root-ca-N</c>. A root rotation is three publishes: <c>Roots 1,2</c> (the new root
    /// joins every bundle); <c>Roots 1,2 SigningRoot 2</c> (it signs the intermediate); <c>Roots 2</c> (the old one leaves).
    /// </summary>
    public IReadOnlyList<int> Roots { get; init; } = [1];

    /// <summary>The root generation that signs the intermediate (default: the lowest of <see cref="Roots"/>).</summary>
    public int SigningRoot { get; init; } = 1;

    /// <summary>
    /// The registry and repository prefix of the images: <c>{ImageRegistry}/{resource}:{ImageTag}</c>. The default names
    /// a registry on the cluster's own host (kind's usual local registry, or images loaded with <c>kind load</c>), never a
    /// public namespace someone else could own: the CA publisher's image is handed the CA keys.
    /// </summary>
    public string ImageRegistry { get; init; } = "localhost:5000/mtls-aspire";

    /// <summary>The tag of every image we build.</summary>
    public string ImageTag { get; init; } = "latest";

    /// <summary>The image that applies the CA publisher's ConfigMaps (its entrypoint is kubectl).</summary>
    public string KubectlImage { get; init; } = "registry.k8s.io/kubectl:v1.31.4";

    /// <summary>The Aspire dashboard image, the in-cluster OTLP collector when <see cref="Dashboard"/> is on.</summary>
    public string DashboardImage { get; init; } = "mcr.microsoft.com/dotnet/aspire-dashboard:13.0";

    /// <summary>Publish the Aspire dashboard as a Deployment and send every service's OTLP to it.</summary>
    public bool Dashboard { get; init; } = true;

    /// <summary>The OTLP endpoint of the services (default: the in-cluster dashboard; none when it is off and this is unset).</summary>
    public string? OtlpEndpoint { get; init; }

    /// <summary>How long each CRL the CA publisher signs is valid; services refuse every peer once it is past (never fail open).</summary>
    public TimeSpan CrlValidity { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How often the CA publisher re-signs the CRLs (a cron schedule; well inside <see cref="CrlValidity"/>).</summary>
    public string CrlSchedule { get; init; } = "*/5 * * * *";

    /// <summary>
    /// Self-signed mode: let a root in the <c>mtls-trust-extra</c> ConfigMap that would vouch for the trust domain
    /// (unmarked, or marked for it) into the bundle outside a root rotation. Off by default: that ConfigMap is easier to
    /// write than the CA Secrets, and such a root could sign any identity of ours.
    /// </summary>
    public bool AllowExtraRootsForTrustDomain { get; init; }

    /// <summary>
    /// The group (as the cluster's authenticator names it) bound to the Role <c>mtls-trust-admin</c>, which may edit the
    /// CA publisher's inputs: <c>mtls-revocations</c>, and <c>mtls-trust-extra</c> or <c>mtls-root-crl</c>.
    /// </summary>
    public string TrustAdminGroup { get; init; } = "mtls-trust-admins";

    /// <summary>The port of every service's mTLS endpoint in its pod and Service.</summary>
    public int HttpsPort { get; init; } = 8443;

    /// <summary>The port of every service's plain management endpoint (health, status) in its pod and Service.</summary>
    public int ManagementPort { get; init; } = 8080;

    /// <summary>The user and group the containers run as (the .NET images' non-root <c>app</c> user).</summary>
    public int RunAsUser { get; init; } = 1654;

    /// <summary>Reads the settings; a bad value throws naming the setting.</summary>
    public static KubernetesOptions From(IConfiguration configuration)
    {
        var section = configuration.GetSection(SectionName);
        var options = new KubernetesOptions();
        var ns = section["Namespace"] is { Length: > 0 } n ? n : options.Namespace;
        if (!NameRules.IsValid(ns))
        {
            throw new ArgumentException($"{SectionName}:Namespace '{ns}' is not a Kubernetes namespace name (lowercase letters, digits and '-').");
        }

        var ca = section["Ca"] switch
        {
            null or "" or "self-signed" => KubernetesCaMode.SelfSigned,
            "external" => KubernetesCaMode.External,
            var other => throw new ArgumentException($"{SectionName}:Ca '{other}' must be 'self-signed' (cert-manager makes the CA) or 'external' (our CertBootstrap intermediate)."),
        };

        var credentials = section["Credentials"] switch
        {
            null or "" or "secret" => KubernetesCredentials.Secret,
            "csi" => KubernetesCredentials.Csi,
            var other => throw new ArgumentException($"{SectionName}:Credentials '{other}' must be 'secret' (a Certificate and Secret per service) or 'csi' (cert-manager's CSI driver: a key per pod)."),
        };

        IReadOnlyList<int> roots = [1];
        if (section["Roots"] is { Length: > 0 } rootList)
        {
            if (ca == KubernetesCaMode.External)
            {
                throw new ArgumentException($"{SectionName}:Roots applies to the self-signed CA; with an external CA, rotate the root with CertBootstrap (rotate-root) and publish again.");
            }

            roots = [.. rootList.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(r =>
                int.TryParse(r, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var g) && g >= 1 ? g
                    : throw new ArgumentException($"{SectionName}:Roots '{rootList}' must list root generations (1, 2, …), e.g. '1,2' during a root rotation."))
                .Distinct().Order()];
        }

        var signing = section["SigningRoot"] is { Length: > 0 } signingText
            ? int.TryParse(signingText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var s) ? s
                : throw new ArgumentException($"{SectionName}:SigningRoot '{signingText}' must be a root generation (1, 2, …).")
            : roots[0];
        if (!roots.Contains(signing))
        {
            throw new ArgumentException($"{SectionName}:SigningRoot {signing} must be one of the trusted roots ({string.Join(",", roots)}): a root no bundle trusts cannot sign the intermediate.");
        }

        TimeSpan crlValidity;
        try
        {
            crlValidity = section["CrlValidity"] is { Length: > 0 } v ? Durations.Parse(v) : options.CrlValidity;
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"{SectionName}:CrlValidity '{section["CrlValidity"]}': {e.Message}", e);
        }

        return options with
        {
            Namespace = ns,
            Ca = ca,
            Credentials = credentials,
            Roots = roots,
            SigningRoot = signing,
            ImageRegistry = section["ImageRegistry"] is { Length: > 0 } registry ? registry.TrimEnd('/') : options.ImageRegistry,
            ImageTag = section["ImageTag"] is { Length: > 0 } tag ? tag : options.ImageTag,
            KubectlImage = section["KubectlImage"] is { Length: > 0 } kubectl ? kubectl : options.KubectlImage,
            DashboardImage = section["DashboardImage"] is { Length: > 0 } dashboard ? dashboard : options.DashboardImage,
            Dashboard = section.GetValue("Dashboard", options.Dashboard),
            OtlpEndpoint = section["OtlpEndpoint"] is { Length: > 0 } otlp ? otlp : null,
            CrlValidity = crlValidity,
            CrlSchedule = section["CrlSchedule"] is { Length: > 0 } schedule ? schedule : options.CrlSchedule,
            AllowExtraRootsForTrustDomain = section.GetValue("AllowExtraRootsForTrustDomain", options.AllowExtraRootsForTrustDomain),
            TrustAdminGroup = section["TrustAdminGroup"] is { Length: > 0 } group ? group : options.TrustAdminGroup,
        };
    }

    /// <summary>The image of a resource.</summary>
    public string ImageOf(string resource) => $"{ImageRegistry}/{resource}:{ImageTag}";
}
