namespace MtlsAspire.LegacyLedger;

/// <summary>
/// Reads the X-Forwarded-Client-Cert header (Envoy's format) that legacy-proxy sets: comma-separated elements, one per
/// proxy hop, each a list of <c>Key=Value</c> fields separated by ';'.
/// </summary>
public static class ForwardedClientCert
{
    /// <summary>The header's name.</summary>
    public const string HeaderName = "X-Forwarded-Client-Cert";

    /// <summary>
    /// The URI= field of the last element (the hop nearest the ledger), or null when it has none. Never throws: any
    /// header text gives a caller or null.
    /// </summary>
    public static string? CallerOf(string xfcc)
    {
        var last = xfcc.Split(',').LastOrDefault() ?? string.Empty;
        return last.Split(';').Select(f => f.Trim()).FirstOrDefault(f => f.StartsWith("URI=", StringComparison.Ordinal))?[4..];
    }
}
