using Aspire.Hosting;
using Microsoft.Extensions.Configuration;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.Hosting;

/// <summary>
/// Where the PKI lives and what it issues, from the AppHost's configuration (section <c>MtlsAspire</c>):
/// <c>StateDirectory</c> (default <c>.state</c>; a relative path is taken from the directory above the AppHost project, the
/// repository root, since <c>dotnet run</c> runs the AppHost in its project directory), <c>LeafLifetime</c> (default <c>24h</c>),
/// <c>TrustDomain</c>, <c>Environment</c>.
/// </summary>
public sealed record PkiOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "MtlsAspire";

    /// <summary>The state directory: pki/, data/, run/ and endpoints.json.</summary>
    public required string StateDirectory { get; init; }

    /// <summary>The PKI directory (what <c>CertBootstrap --pki</c> takes).</summary>
    public string PkiDirectory => Path.Combine(StateDirectory, "pki");

    /// <summary>Where everything lives in the PKI directory (CertBootstrap's layout).</summary>
    public PkiLayout Layout => new(PkiDirectory);

    /// <summary>Where a resource's rejection kit lives.</summary>
    public string KitDirectory(string service) => Path.Combine(PkiDirectory, "kits", service);

    /// <summary>The lifetime of every leaf; each is renewed at 2/3 of it.</summary>
    public TimeSpan LeafLifetime { get; init; } = TimeSpan.FromHours(24);

    /// <summary>The SPIFFE trust domain of a new PKI.</summary>
    public string TrustDomain { get; init; } = "mtls-aspire.local";

    /// <summary>The environment (the <c>ns</c> of every SPIFFE ID) of a new PKI.</summary>
    public string Environment { get; init; } = "development";

    /// <summary>
    /// Spread of the progressive re-issue after an intermediate rotation: each leaf moves to the new intermediate at a
    /// random moment within this window (once every service loaded the new intermediate's CRL), not all at once.
    /// </summary>
    public TimeSpan ReissueJitter { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one step of a root rotation (or of the fire drill) waits for every service to load it.</summary>
    public TimeSpan StepTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The expiry thresholds (MtlsAspire:Expiry:WarningFraction, MtlsAspire:Expiry:CriticalRemaining), also handed to every service.</summary>
    public ExpiryPolicy Expiry { get; init; } = ExpiryPolicy.Default;

    /// <summary>The service whose certificate the fire drill revokes and replaces (default inventory, else the first identity).</summary>
    public string FireDrillService { get; init; } = "inventory";

    /// <summary>Reads the options; a bad value throws naming the setting.</summary>
    public static PkiOptions From(IDistributedApplicationBuilder builder)
    {
        var configuration = builder.Configuration;
        var section = configuration.GetSection(SectionName);
        var lifetime = section["LeafLifetime"];
        TimeSpan leafLifetime;
        try
        {
            leafLifetime = lifetime is { Length: > 0 } ? Durations.Parse(lifetime) : TimeSpan.FromHours(24);
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"{SectionName}:LeafLifetime (--leaf-lifetime) '{lifetime}': {e.Message}", e);
        }

        return new PkiOptions
        {
            StateDirectory = Path.GetFullPath(section["StateDirectory"] is { Length: > 0 } state ? state : ".state",
                Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."))),
            LeafLifetime = leafLifetime,
            TrustDomain = section["TrustDomain"] is { Length: > 0 } td ? td : "mtls-aspire.local",
            Environment = section["Environment"] is { Length: > 0 } env ? env : "development",
            ReissueJitter = Duration(section, "ReissueJitter", TimeSpan.FromSeconds(5)),
            StepTimeout = Duration(section, "StepTimeout", TimeSpan.FromMinutes(5)),
            Expiry = new ExpiryPolicy(
                section["Expiry:WarningFraction"] is { Length: > 0 } fraction
                    ? double.TryParse(fraction, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var f) && f is > 0 and < 1 ? f
                        : throw new ArgumentException($"{SectionName}:Expiry:WarningFraction '{fraction}' must be a number between 0 and 1 (e.g. 0.25: warn with a quarter of the lifetime left).")
                    : ExpiryPolicy.DefaultWarningFraction,
                Duration(section, "Expiry:CriticalRemaining", ExpiryPolicy.DefaultCriticalRemaining)),
            FireDrillService = section["FireDrill:Service"] is { Length: > 0 } drill ? drill : "inventory",
        };
    }

    private static TimeSpan Duration(IConfigurationSection section, string key, TimeSpan fallback)
    {
        var text = section[key];
        try
        {
            return text is { Length: > 0 } ? Durations.Parse(text) : fallback;
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"{SectionName}:{key} '{text}': {e.Message}", e);
        }
    }
}
