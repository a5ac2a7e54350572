using System.Text.Json;
using System.Text.Json.Serialization;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;

namespace MtlsAspire.CertBootstrap.Authority;

/// <summary>The fixed settings of a PKI, chosen at init and stored in pki.json.</summary>
public sealed record PkiSettings
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>The SPIFFE trust domain, e.g. <c>mtls-aspire.local</c>.</summary>
    public string TrustDomain { get; init; } = "mtls-aspire.local";

    /// <summary>The environment in each SPIFFE ID's path, e.g. <c>development</c>.</summary>
    public string Environment { get; init; } = "development";

    /// <summary>The key type of the CAs and, by default, of leaves.</summary>
    public KeyType KeyType { get; init; } = KeyType.EcdsaP256;

    /// <summary>Root CA lifetime.</summary>
    public TimeSpan RootLifetime { get; init; } = TimeSpan.FromDays(3650);

    /// <summary>Intermediate CA lifetime.</summary>
    public TimeSpan IntermediateLifetime { get; init; } = TimeSpan.FromDays(365);

    /// <summary>Default leaf lifetime.</summary>
    public TimeSpan LeafLifetime { get; init; } = TimeSpan.FromHours(24);

    /// <summary>How far a leaf's notBefore is back-dated, for peers whose clocks run behind.</summary>
    public TimeSpan ClockSkewAllowance { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long an intermediate's CRL is valid (its nextUpdate); it is re-signed at half of that.</summary>
    public TimeSpan IntermediateCrlValidity { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long a root's CRL (covering intermediates) is valid.</summary>
    public TimeSpan RootCrlValidity { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Throws <see cref="PkiException"/> naming the setting when one is not valid.</summary>
    public void Validate()
    {
        if (!SpiffeId.TryParse($"spiffe://{TrustDomain}", out _, out var reason) || TrustDomain.Contains('/', StringComparison.Ordinal))
        {
            throw new PkiException($"Invalid trust domain '{TrustDomain}': {reason ?? "it must not contain '/'"}.");
        }

        if (!NameRules.IsValid(Environment))
        {
            throw new PkiException($"Invalid environment name '{Environment}': use 1-63 lowercase letters, digits and '-'.");
        }

        if (LeafLifetime < TimeSpan.FromMinutes(1) || IntermediateLifetime <= LeafLifetime || RootLifetime <= IntermediateLifetime)
        {
            throw new PkiException("Lifetimes must grow from leaf to intermediate to root, and a leaf must live at least a minute.");
        }
    }

    /// <summary>Reads pki.json.</summary>
    public static PkiSettings Load(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<PkiSettings>(File.ReadAllText(path), s_json)
                ?? throw new PkiException($"{path} is empty.");
        }
        catch (JsonException e)
        {
            throw new PkiException($"{path} is damaged: {e.Message}", e);
        }
    }

    /// <summary>The settings as pki.json text.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, s_json) + "\n";
}
