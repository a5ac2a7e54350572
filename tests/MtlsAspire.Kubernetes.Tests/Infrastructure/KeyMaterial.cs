using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace MtlsAspire.Kubernetes.Tests.Infrastructure;

/// <summary>
/// Finds private keys in a text, in the forms a repository or a manifest could hold one: a PEM block whose label names a
/// private key (indented, as in a YAML block scalar, too), and base64 — a Secret's <c>data</c>, a variable — that
/// decodes to such a PEM text or to a private key's DER (PKCS#8 EC or RSA, encrypted PKCS#8, SEC1, PKCS#1).
/// </summary>
public static partial class KeyMaterial
{
    // DER fragments only a private key has near its start (a certificate's or a public key's encoding has none of them).
    private static readonly (string Name, byte[] Bytes)[] s_derMarkers =
    [
        ("a PKCS#8 EC private key", [0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]),
        ("a PKCS#8 RSA private key", [0x02, 0x01, 0x00, 0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01, 0x05, 0x00, 0x04]),
        ("an encrypted PKCS#8 private key (PBES2)", [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0D]),
        ("a SEC1 EC private key", [0x02, 0x01, 0x01, 0x04]),
        ("a PKCS#1 RSA private key", [0x02, 0x01, 0x00, 0x02, 0x82]),
    ];

    /// <summary>What private keys <paramref name="text"/> holds, one description each; empty when none.</summary>
    public static IEnumerable<string> In(string text)
    {
        var found = new List<string>();
        var rest = text.AsSpan();
        var offset = 0;
        while (PemEncoding.TryFind(rest, out var fields))
        {
            var label = rest[fields.Label].ToString();
            if (label.EndsWith("PRIVATE KEY", StringComparison.Ordinal))
            {
                found.Add($"a PEM block '{label}' at character {offset + fields.Location.Start.Value}");
            }

            offset += fields.Location.End.Value;
            rest = rest[fields.Location.End.Value..];
        }

        foreach (Match run in Base64Run().Matches(text))
        {
            if (run.Length % 4 != 0 || !TryDecode(run.Value, out var bytes))
            {
                continue;
            }

            if (DerMarker(bytes) is { } name)
            {
                found.Add($"base64 of {name} at character {run.Index}");
            }
            else if (Encoding.Latin1.GetString(bytes) is var decoded && decoded.Contains("PRIVATE KEY-----", StringComparison.Ordinal) && In(decoded).Any())
            {
                found.Add($"base64 of a PEM private key at character {run.Index}");
            }
        }

        return found;
    }

    private static bool TryDecode(string base64, out byte[] bytes)
    {
        bytes = new byte[base64.Length / 4 * 3];
        if (Convert.TryFromBase64String(base64, bytes, out var written))
        {
            bytes = bytes[..written];
            return true;
        }

        return false;
    }

    // The marker must sit in the key's first bytes: a SEQUENCE header (2-4 bytes), then the version, then the algorithm.
    private static string? DerMarker(byte[] der)
    {
        if (der.Length < 32 || der[0] != 0x30)
        {
            return null;
        }

        var head = der[..Math.Min(der.Length, 24)];
        return s_derMarkers.FirstOrDefault(m => head.AsSpan().IndexOf(m.Bytes) is >= 2 and <= 12).Name;
    }

    [GeneratedRegex("[A-Za-z0-9+/]{64,}={0,2}")]
    private static partial Regex Base64Run();
}
