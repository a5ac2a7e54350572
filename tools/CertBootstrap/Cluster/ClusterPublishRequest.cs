using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Identity;

namespace MtlsAspire.CertBootstrap.Cluster;

/// <summary>What <c>publish-cluster</c> is asked to publish: the CRLs of the cluster's CAs, and the trust bundle.</summary>
public sealed record ClusterPublishRequest
{
    /// <summary>The mounted cert-manager CA Secrets whose keys sign a CRL each, in this order.</summary>
    public required IReadOnlyList<string> CaDirectories { get; init; }

    /// <summary>The revoked-serials file (<see cref="RevokedSerialsFile"/>); it must exist.</summary>
    public required string RevokedFile { get; init; }

    /// <summary>CRL files (such as a root's, signed offline) appended verbatim after the signed CRLs.</summary>
    public IReadOnlyList<string> AppendCrlFiles { get; init; } = [];

    /// <summary>Mounted CA Secrets whose root goes into the trust bundle.</summary>
    public IReadOnlyList<string> RootDirectories { get; init; } = [];

    /// <summary>A file of further roots for the bundle; a missing file means none.</summary>
    public string? ExtraRootsFile { get; init; }

    /// <summary>
    /// The trust domain the bundle is for; needed with <see cref="ExtraRootsFile"/>, whose roots that would vouch for it
    /// are left out unless a root rotation is in progress or <see cref="AllowExtraRootsForTrustDomain"/> is set.
    /// </summary>
    public string? TrustDomain { get; init; }

    /// <summary>Admits extra roots that vouch for <see cref="TrustDomain"/> (unmarked, or marked for it) outside a root rotation.</summary>
    public bool AllowExtraRootsForTrustDomain { get; init; }

    /// <summary>
    /// The <c>crl.pem</c> published before (a missing file means none): its serials stay revoked while the CAs are
    /// valid, even when <see cref="RevokedFile"/> lost them (<see cref="RevocationRecord"/>).
    /// </summary>
    public string? PublishedCrlFile { get; init; }

    /// <summary>The namespace of the ConfigMaps.</summary>
    public required string Namespace { get; init; }

    /// <summary>The ConfigMap holding <c>crl.pem</c>.</summary>
    public string CrlConfigMap { get; init; } = "mtls-crl";

    /// <summary>The ConfigMap holding <c>ca.crt</c>.</summary>
    public string BundleConfigMap { get; init; } = "mtls-trust-bundle";

    /// <summary>How long each signed CRL is valid (its nextUpdate is now plus this).</summary>
    public TimeSpan Validity { get; init; } = TimeSpan.FromHours(1);

    /// <summary>True when a trust bundle is asked for.</summary>
    public bool HasBundle => RootDirectories.Count > 0 || ExtraRootsFile is not null;

    /// <summary>Throws <see cref="PkiException"/> naming the value at fault.</summary>
    public void Validate()
    {
        if (CaDirectories.Count == 0)
        {
            throw new PkiException("Give at least one --ca DIR: services refuse every peer whose CA has no CRL.");
        }

        foreach (var (name, what) in new[] { (Namespace, "namespace"), (CrlConfigMap, "CRL ConfigMap"), (BundleConfigMap, "bundle ConfigMap") })
        {
            if (!NameRules.IsValid(name))
            {
                throw new PkiException($"Invalid {what} name '{name}': use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit.");
            }
        }

        if (HasBundle && CrlConfigMap == BundleConfigMap)
        {
            throw new PkiException($"The CRL and bundle ConfigMaps are both named '{CrlConfigMap}': give them different names.");
        }

        if (Validity <= TimeSpan.Zero)
        {
            throw new PkiException("The CRL validity must be positive.");
        }

        if (TrustDomain is not null && (!SpiffeId.TryParse("spiffe://" + TrustDomain, out var id, out _) || id.Path.Length != 0))
        {
            throw new PkiException($"Invalid trust domain '{TrustDomain}' (--trust-domain): use lowercase letters, digits, '.', '-' and '_', e.g. mtls-aspire.local.");
        }
    }
}
