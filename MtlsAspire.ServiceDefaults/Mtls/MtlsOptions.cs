using Microsoft.Extensions.Options;
using MtlsAspire.Verification.Identity;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>The lowest TLS version the mTLS endpoint and clients accept.</summary>
public enum MtlsTlsVersion
{
    /// <summary>TLS 1.2 and 1.3.</summary>
    Tls12,

    /// <summary>TLS 1.3 only (the default).</summary>
    Tls13,
}

/// <summary>Whether caller rules deny or only report.</summary>
public enum AuthorizationMode
{
    /// <summary>A caller not allowed gets 403.</summary>
    Enforce,

    /// <summary>A caller not allowed is logged and counted as a would-be denial, and let through (a mesh's permissive mode).</summary>
    Audit,
}

/// <summary>mTLS settings, bound from the <c>Mtls</c> configuration section and validated at start.</summary>
public sealed class MtlsOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Mtls";

    /// <summary>
    /// The directory holding tls.crt, tls.key, ca.crt and crl.pem: the directory CertBootstrap writes, or a mounted
    /// cert-manager Secret (ca.crt and crl.pem may come from elsewhere instead: <see cref="TrustBundleFile"/>,
    /// <see cref="CrlFile"/>). Required.
    /// </summary>
    public string CredentialsDirectory { get; set; } = string.Empty;

    /// <summary>
    /// The trust bundle (every trusted root, PEM), as a full path, read instead of ca.crt in
    /// <see cref="CredentialsDirectory"/> (which is then ignored). For cert-manager's CSI driver (csi.cert-manager.io),
    /// whose per-pod volume holds this pod's own key and certificate and nothing can be added to: the bundle comes from a
    /// ConfigMap mounted as another directory. The file may be that volume's link into its <c>..data</c> generation; it is
    /// read through the link, and a new generation is picked up like a new credential set. Missing at start, the service
    /// fails to start; a bad bundle later is refused and the loaded one kept.
    /// </summary>
    public string? TrustBundleFile { get; set; }

    /// <summary>
    /// The CRLs (PEM, one per CA), as a full path, read instead of crl.pem in <see cref="CredentialsDirectory"/> (which
    /// is then ignored): with cert-manager's CSI driver, from a ConfigMap mounted as another directory (see
    /// <see cref="TrustBundleFile"/>). While the file is missing or empty there is no CRL, and every peer is refused as
    /// crl-unavailable until one arrives (fail closed): never "no revocation checking". A bad CRL file is refused and
    /// the loaded CRLs kept.
    /// </summary>
    public string? CrlFile { get; set; }

    /// <summary>The SPIFFE trust domain peers must belong to; by default the trust domain of this service's own certificate.</summary>
    public string? TrustDomain { get; set; }

    /// <summary>The lowest TLS version accepted (default TLS 1.3).</summary>
    public MtlsTlsVersion MinimumTlsVersion { get; set; } = MtlsTlsVersion.Tls13;

    /// <summary>The protocols to enable for <see cref="MinimumTlsVersion"/>.</summary>
    public System.Security.Authentication.SslProtocols EnabledProtocols => MinimumTlsVersion == MtlsTlsVersion.Tls13
        ? System.Security.Authentication.SslProtocols.Tls13
        : System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13;

    /// <summary>How often the files are checked for a new generation (a file watcher also triggers a check at once).</summary>
    public TimeSpan ReloadInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Watch the directory for changes (default true) besides checking every <see cref="ReloadInterval"/>; off where
    /// file notifications do not work (some network file systems). A peer refused for want of a CRL or root checks
    /// the files at once either way.
    /// </summary>
    public bool WatchFiles { get; set; } = true;

    /// <summary>When the loaded leaf counts as close to expiry.</summary>
    public MtlsExpiryOptions Expiry { get; set; } = new();

    /// <summary>Accept a peer whose issuer's CRL is past its nextUpdate (default false: fail closed).</summary>
    public bool AllowStaleCrl { get; set; }

    /// <summary>
    /// Let clients resume TLS sessions on the mTLS endpoint (default true). A resumed session skips the certificate
    /// exchange and the signatures, but is still judged again against the current CRLs and trust. Session tickets go only
    /// to clients that named the server in their hello (SNI): one that dialled an IP address sends no name, and the .NET
    /// client never resumes to an IP literal, so its full handshakes end without the tickets (made, encrypted with its
    /// certificate inside and sent for nothing). False: no client resumes, and no tickets at all.
    /// </summary>
    public bool AllowTlsResumption { get; set; } = true;

    /// <summary>
    /// How long a TLS handshake on the mTLS endpoint may take, from the connection's first byte to the end (default 10 s).
    /// A peer that sends nothing, or trickles its handshake in (slowloris), is disconnected then.
    /// </summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Which new connections of the mTLS endpoint may start a handshake: per-source bounds and penalties.</summary>
    public MtlsAdmissionOptions Admission { get; set; } = new();

    /// <summary>How many validated peer certificates are remembered (per credential generation) to skip chain building.</summary>
    public int ValidationCacheSize { get; set; } = 1024;

    /// <summary>
    /// The largest certificate a peer may send, leaf or CA, in DER bytes (default 16,384). A peer sending a larger one is
    /// refused as <c>chain-too-large</c> before any chain is built. Our leaves and intermediates are under 1 KB (RSA-2048
    /// about 1 KB), an RSA-4096 certificate with a few names about 2 KB: the default leaves room for partner PKIs.
    /// </summary>
    public int MaxPeerCertificateBytes { get; set; } = 16 * 1024;

    /// <summary>
    /// The most a peer's chain may weigh, its leaf and every certificate it sent after it together, in DER bytes (default
    /// 65,536): larger is refused as <c>chain-too-large</c> before any chain is built. At least
    /// <see cref="MaxPeerCertificateBytes"/>.
    /// </summary>
    public int MaxPeerChainBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// What the chains of peers that were not authenticated (strangers) may hold in memory together, in bytes (default
    /// 2 MiB; 0 remembers none). They are kept only so that a peer refused before its root reached our bundle can resume
    /// its session later; beyond the budget the oldest are forgotten.
    /// </summary>
    public long StrangerChainBudgetBytes { get; set; } = 2 * 1024 * 1024;

    /// <summary>How long a client keeps the connections of a replaced client certificate for requests already under way.</summary>
    public TimeSpan RetiredClientHandlerGrace { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Caller rules.</summary>
    public MtlsAuthorizationOptions Authorization { get; set; } = new();

    /// <summary>How many refused handshakes are logged (and traced) one by one; the rest are counted in a summary.</summary>
    public MtlsRefusalLogOptions RefusalLogs { get; set; } = new();
}

/// <summary>
/// The <c>Mtls:RefusalLogs</c> section. A flood of bad handshakes (scanners, a misconfigured caller retrying) must not
/// become a flood of Warning logs and spans: per side and reason, the first <see cref="PerWindow"/> refusals of each
/// <see cref="Window"/> are logged and traced in full; the others are counted, and one Warning at the end of the window
/// says how many there were and names the last. <c>mtls.handshake.failures</c> counts every refusal either way.
/// </summary>
public sealed class MtlsRefusalLogOptions
{
    /// <summary>Refusals of one side and reason logged in full per window (default 10).</summary>
    public int PerWindow { get; set; } = 10;

    /// <summary>The window (default 10 s).</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>Expiry thresholds of the loaded leaf (the <c>Mtls:Expiry</c> section): health, logs, metrics and <c>/mtls/status</c>.</summary>
public sealed class MtlsExpiryOptions
{
    /// <summary>
    /// Warning (health Degraded) once less than this fraction of the leaf's lifetime is left (default 0.25; renewal
    /// normally happens at 2/3, so reaching it means renewal is late). Between 0 and 1.
    /// </summary>
    public double WarningFraction { get; set; } = ExpiryPolicy.DefaultWarningFraction;

    /// <summary>Critical (health Degraded, logged as an error) once less than this is left (default 1 h), at most a tenth of the lifetime.</summary>
    public TimeSpan CriticalRemaining { get; set; } = ExpiryPolicy.DefaultCriticalRemaining;

    /// <summary>The policy these settings make.</summary>
    public ExpiryPolicy Policy => new(WarningFraction, CriticalRemaining);
}

/// <summary>Caller rules: which SPIFFE IDs may call which endpoints.</summary>
public sealed class MtlsAuthorizationOptions
{
    /// <summary>Enforce (403) or Audit (log and count, let through).</summary>
    public AuthorizationMode Mode { get; set; } = AuthorizationMode.Enforce;

    /// <summary>
    /// Named rules: rule name → allowed callers (service names in this service's trust domain and environment, full
    /// SPIFFE IDs, or "*" for any member of the trust domain), written by hand in configuration. Endpoints refer to them
    /// with <c>RequireCallersFromRule("name")</c>. The app model's references arrive as <see cref="ReferencedBy"/> instead.
    /// </summary>
    public Dictionary<string, string[]> Rules { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// The callers that reference this service in the app model (service names in this service's trust domain and
    /// environment, or full SPIFFE IDs): what <c>RequireReferencingCallers()</c> allows. The AppHost sets them.
    /// </summary>
    public string[] ReferencedBy { get; set; } = [];
}

internal sealed class MtlsOptionsValidator : IValidateOptions<MtlsOptions>
{
    /// <summary>The smallest <see cref="MtlsOptions.MaxPeerCertificateBytes"/> accepted: below it, real certificates would be refused.</summary>
    private const int MinimumCertificateBytes = 4096;

    public ValidateOptionsResult Validate(string? name, MtlsOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.CredentialsDirectory))
        {
            failures.Add("Mtls:CredentialsDirectory is required: the directory holding tls.crt, tls.key, ca.crt and crl.pem.");
        }
        else if (!Directory.Exists(options.CredentialsDirectory))
        {
            failures.Add($"Mtls:CredentialsDirectory '{options.CredentialsDirectory}' does not exist.");
        }

        ValidateSeparateFile(failures, "Mtls:TrustBundleFile", options.TrustBundleFile);
        ValidateSeparateFile(failures, "Mtls:CrlFile", options.CrlFile);

        if (options.TrustDomain is { } trustDomain && (!SpiffeId.TryParse($"spiffe://{trustDomain}", out _, out var reason) || trustDomain.Contains('/', StringComparison.Ordinal)))
        {
            failures.Add($"Mtls:TrustDomain '{trustDomain}' is not a SPIFFE trust domain: {reason ?? "it contains '/'"}.");
        }

        if (options.ReloadInterval <= TimeSpan.Zero)
        {
            failures.Add("Mtls:ReloadInterval must be positive.");
        }

        if (!(options.Expiry.WarningFraction > 0 && options.Expiry.WarningFraction < 1))
        {
            failures.Add($"Mtls:Expiry:WarningFraction must be between 0 and 1 (exclusive), e.g. 0.25 to warn when less than a quarter of the lifetime is left; it is {options.Expiry.WarningFraction.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        }

        if (options.Expiry.CriticalRemaining <= TimeSpan.Zero)
        {
            failures.Add($"Mtls:Expiry:CriticalRemaining must be a positive time span, e.g. 01:00:00; it is {options.Expiry.CriticalRemaining}.");
        }

        if (options.RefusalLogs.PerWindow < 1 || options.RefusalLogs.Window <= TimeSpan.Zero)
        {
            failures.Add($"Mtls:RefusalLogs needs PerWindow of at least 1 and a positive Window (e.g. 10 and 00:00:10); they are {options.RefusalLogs.PerWindow} and {options.RefusalLogs.Window}.");
        }

        if (options.HandshakeTimeout <= TimeSpan.Zero)
        {
            failures.Add($"Mtls:HandshakeTimeout must be a positive time span, e.g. 00:00:10; it is {options.HandshakeTimeout}.");
        }

        failures.AddRange(options.Admission.Validate());

        if (options.ValidationCacheSize < 0)
        {
            failures.Add("Mtls:ValidationCacheSize must not be negative.");
        }

        if (options.MaxPeerCertificateBytes < MinimumCertificateBytes)
        {
            failures.Add($"Mtls:MaxPeerCertificateBytes must be at least {MinimumCertificateBytes} (an RSA-4096 certificate is about 2 KB), e.g. 16384; it is {options.MaxPeerCertificateBytes}.");
        }

        if (options.MaxPeerChainBytes < options.MaxPeerCertificateBytes)
        {
            failures.Add($"Mtls:MaxPeerChainBytes must be at least Mtls:MaxPeerCertificateBytes ({options.MaxPeerCertificateBytes}), e.g. 65536; it is {options.MaxPeerChainBytes}.");
        }

        if (options.StrangerChainBudgetBytes < 0)
        {
            failures.Add($"Mtls:StrangerChainBudgetBytes must not be negative (0 remembers no stranger's chain), e.g. 2097152; it is {options.StrangerChainBudgetBytes}.");
        }

        foreach (var (rule, callers) in options.Authorization.Rules)
        {
            foreach (var caller in callers)
            {
                if (caller != "*" && !NameRules.IsValid(caller) && !SpiffeId.TryParse(caller, out _, out _))
                {
                    failures.Add($"Mtls:Authorization:Rules:{rule} names '{caller}', which is neither a service name, a SPIFFE ID nor '*'.");
                }
            }
        }

        for (var i = 0; i < options.Authorization.ReferencedBy.Length; i++)
        {
            var caller = options.Authorization.ReferencedBy[i];
            if (!NameRules.IsValid(caller) && !SpiffeId.TryParse(caller, out _, out _))
            {
                failures.Add($"Mtls:Authorization:ReferencedBy:{i} names '{caller}', which is neither a service name nor a SPIFFE ID.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>The file itself may be missing (a CRL not published yet) but not its directory: that is a mount gone wrong.</summary>
    private static void ValidateSeparateFile(List<string> failures, string setting, string? file)
    {
        if (string.IsNullOrWhiteSpace(file))
        {
            return;
        }

        if (!Path.IsPathFullyQualified(file))
        {
            failures.Add($"{setting} '{file}' must be a full path.");
        }
        else if (Path.GetDirectoryName(file) is not { } directory || !Directory.Exists(directory))
        {
            failures.Add($"{setting} '{file}': its directory '{Path.GetDirectoryName(file)}' does not exist (is the volume mounted?).");
        }
    }
}
