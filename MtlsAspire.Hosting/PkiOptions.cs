using Aspire.Hosting;
using Microsoft.Extensions.Configuration;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification;

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
        };
    }
}
