using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MtlsAspire.Verification.Status;

/// <summary>
/// What a running service has loaded, as it reports it on its plain management port (<c>GET /mtls/status</c>):
/// the contract between a service and whoever rotates its credentials (the AppHost's lifecycle, <c>CertBootstrap
/// rotate-root</c>). A root rotation step starts only once every service reports the previous step's files.
/// Everything here is public certificate data; no key material.
/// </summary>
/// <param name="SpiffeId">The service's SPIFFE ID.</param>
/// <param name="Generation">The credential generation in use (1 at start, +1 per reload swapped in).</param>
/// <param name="LoadedAt">When that generation was swapped in (the service's clock).</param>
/// <param name="Leaf">The leaf the service serves and presents.</param>
/// <param name="Bundle">The trust bundle (ca.crt) the service judges peers with.</param>
/// <param name="Crls">The CRLs the service checks peers against.</param>
/// <param name="Expiry">How close the leaf is to expiry, by the service's thresholds and clock.</param>
public sealed record CredentialStatus(
    string SpiffeId,
    long Generation,
    DateTimeOffset LoadedAt,
    LeafStatus Leaf,
    BundleStatus Bundle,
    IReadOnlyList<CrlStatus> Crls,
    ExpiryStatus Expiry)
{
    /// <summary>The management path.</summary>
    public const string Path = "/mtls/status";

    /// <summary>The JSON form (camelCase, as ASP.NET Core writes it).</summary>
    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>Parses a status document; throws <see cref="JsonException"/> when it is not one.</summary>
    public static CredentialStatus Parse(string json)
    {
        var status = JsonSerializer.Deserialize<CredentialStatus>(json, Json) ?? throw new JsonException("The status document is empty (null).");
        // Records do not enforce their parameters in JSON: a document missing a part is not a status.
        return status is { SpiffeId: not null, Leaf: not null, Bundle.Roots: not null, Crls: not null, Expiry: not null }
            ? status
            : throw new JsonException("The status document lacks spiffeId, leaf, bundle.roots, crls or expiry.");
    }

    /// <summary>True when the bundle holds the root with <paramref name="rootSerial"/>.</summary>
    public bool Trusts(string rootSerial) => Bundle.Roots.Any(r => string.Equals(r.Serial, rootSerial, StringComparison.OrdinalIgnoreCase));
}

/// <summary>The leaf in use.</summary>
/// <param name="Serial">Serial number (hex, as <see cref="X509Certificate2.SerialNumber"/> gives it).</param>
/// <param name="NotBefore">Start of validity.</param>
/// <param name="NotAfter">End of validity.</param>
/// <param name="Issuer">The issuing intermediate's subject.</param>
/// <param name="IssuerSerial">The issuing intermediate's serial (hex), when it was loaded with the leaf.</param>
public sealed record LeafStatus(string Serial, DateTimeOffset NotBefore, DateTimeOffset NotAfter, string Issuer, string? IssuerSerial)
{
    /// <summary>The status of <paramref name="leaf"/>; its issuer's serial comes from <paramref name="intermediates"/> (the chain loaded with it).</summary>
    public static LeafStatus Of(X509Certificate2 leaf, IEnumerable<X509Certificate2> intermediates) => new(
        leaf.SerialNumber,
        new DateTimeOffset(leaf.NotBefore.ToUniversalTime()),
        new DateTimeOffset(leaf.NotAfter.ToUniversalTime()),
        leaf.Issuer,
        intermediates.FirstOrDefault(i => i.SubjectName.RawData.AsSpan().SequenceEqual(leaf.IssuerName.RawData))?.SerialNumber);
}

/// <summary>The trust bundle in use.</summary>
/// <param name="Fingerprint">SHA-256 over the sorted thumbprints of the roots: equal bundles have equal fingerprints.</param>
/// <param name="Roots">The roots.</param>
public sealed record BundleStatus(string Fingerprint, IReadOnlyList<RootStatus> Roots)
{
    /// <summary>The bundle status of <paramref name="roots"/>.</summary>
    public static BundleStatus Of(X509Certificate2Collection roots)
    {
        var list = roots.Select(r => new RootStatus(r.SerialNumber, r.Subject, new DateTimeOffset(r.NotAfter.ToUniversalTime()))).ToList();
        var thumbprints = string.Join(',', roots.Select(r => r.GetCertHashString(HashAlgorithmName.SHA256)).Order(StringComparer.Ordinal));
        return new BundleStatus(Convert.ToHexString(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(thumbprints))), list);
    }
}

/// <summary>A trusted root.</summary>
/// <param name="Serial">Serial number (hex).</param>
/// <param name="Subject">Subject.</param>
/// <param name="NotAfter">End of validity.</param>
public sealed record RootStatus(string Serial, string Subject, DateTimeOffset NotAfter);

/// <summary>A CRL in use.</summary>
/// <param name="Issuer">The issuing CA's subject.</param>
/// <param name="Number">The CRL number (decimal), if it has one.</param>
/// <param name="ThisUpdate">When it was signed.</param>
/// <param name="NextUpdate">When it goes stale.</param>
/// <param name="Revoked">How many serials it lists.</param>
public sealed record CrlStatus(string Issuer, string? Number, DateTimeOffset ThisUpdate, DateTimeOffset? NextUpdate, int Revoked);

/// <summary>How close to expiry the leaf is.</summary>
public enum ExpiryState
{
    /// <summary>Comfortably valid.</summary>
    Ok,

    /// <summary>Past the warning threshold (renewal is late): the resource shows Degraded.</summary>
    Warning,

    /// <summary>Past the critical threshold (expiry is near): Degraded, logged as an error.</summary>
    Critical,

    /// <summary>Expired: peers refuse it.</summary>
    Expired,

    /// <summary>Not valid yet by the service's clock (clock skew).</summary>
    NotYetValid,
}

/// <summary>The expiry verdict.</summary>
/// <param name="State">The state.</param>
/// <param name="Remaining">Time left until notAfter (negative once expired).</param>
/// <param name="Detail">One sentence for people: the thresholds crossed and both times.</param>
public sealed record ExpiryStatus(ExpiryState State, TimeSpan Remaining, string Detail);
