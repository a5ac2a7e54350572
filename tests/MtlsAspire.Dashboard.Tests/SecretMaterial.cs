using System.Security.Cryptography;
using System.Text;

namespace MtlsAspire.Dashboard.Tests;

/// <summary>
/// Every private key under a state directory and the root key's passphrase, in each form a leak could take: the PEM
/// text's base64 lines, the key's DER as hex, the private scalar (and RSA's primes) as hex and base64, the passphrase as
/// text and base64. <see cref="FindIn"/> says which of them a text contains.
/// </summary>
internal sealed class SecretMaterial
{
    // Shorter fragments than this would match by chance in unrelated base64 (trace ids, hashes).
    private const int MinimumFragment = 24;

    private readonly List<(string Form, string Value)> _needles = [];

    private SecretMaterial()
    {
    }

    /// <summary>How many key files and passphrases were found (a scan that found none proves nothing).</summary>
    public int KeyFiles { get; private set; }

    public int Passphrases { get; private set; }

    public int Needles => _needles.Count;

    public static SecretMaterial Load(string stateDirectory)
    {
        var material = new SecretMaterial();
        var passphrases = new List<string>();
        foreach (var file in Directory.EnumerateFiles(stateDirectory, "passphrase", SearchOption.AllDirectories))
        {
            var passphrase = File.ReadAllText(file).Trim();
            passphrases.Add(passphrase);
            material.Passphrases++;
            material.Add($"passphrase {file}", passphrase);
            material.Add($"passphrase {file} (base64)", Convert.ToBase64String(Encoding.UTF8.GetBytes(passphrase)));
        }

        // Every generation's tls.key (links skipped: each file once), the CAs' ca.key, the intruder's kits.
        var keyFiles = Directory.EnumerateFiles(stateDirectory, "*.key", SearchOption.AllDirectories)
            .Where(f => new FileInfo(f).LinkTarget is null);
        foreach (var file in keyFiles)
        {
            material.AddKey(file, File.ReadAllText(file), passphrases);
        }

        return material;
    }

    /// <summary>The forms of secret found in <paramref name="text"/>, as "form (where)" descriptions; empty when none.</summary>
    public IEnumerable<string> FindIn(string text) =>
        _needles.Where(n => text.Contains(n.Value, StringComparison.OrdinalIgnoreCase)).Select(n => n.Form);

    private void AddKey(string file, string pem, IReadOnlyList<string> passphrases)
    {
        KeyFiles++;
        var fields = PemEncoding.Find(pem);
        var base64 = pem[fields.Base64Data];
        foreach (var line in base64.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            Add($"a base64 line of {file}", line);
        }

        var der = Convert.FromBase64String(base64.Replace("\n", "", StringComparison.Ordinal).Replace("\r", "", StringComparison.Ordinal));
        Add($"the DER of {file} as hex", Convert.ToHexString(der));
        foreach (var (name, value) in PrivateNumbers(pem, passphrases))
        {
            Add($"{name} of {file} as hex", Convert.ToHexString(value));
            Add($"{name} of {file} as base64", Convert.ToBase64String(value));
        }
    }

    private static IEnumerable<(string Name, byte[] Value)> PrivateNumbers(string pem, IReadOnlyList<string> passphrases)
    {
        using var ec = ECDsa.Create();
        if (TryImport(ec, pem, passphrases))
        {
            return [("the private scalar", ec.ExportParameters(true).D!)];
        }

        using var rsa = RSA.Create();
        if (TryImport(rsa, pem, passphrases))
        {
            var p = rsa.ExportParameters(true);
            return [("the private exponent", p.D!), ("the prime P", p.P!), ("the prime Q", p.Q!)];
        }

        throw new InvalidDataException("A key file of the state directory is neither an EC nor an RSA key this test can read.");
    }

    private static bool TryImport(AsymmetricAlgorithm key, string pem, IReadOnlyList<string> passphrases)
    {
        foreach (var passphrase in passphrases.Prepend(null))
        {
            try
            {
                if (passphrase is null)
                {
                    key.ImportFromPem(pem);
                }
                else
                {
                    key.ImportFromEncryptedPem(pem, passphrase);
                }

                return true;
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
            }
        }

        return false;
    }

    private void Add(string form, string value)
    {
        if (value.Length >= MinimumFragment)
        {
            _needles.Add((form, value));
        }
    }
}
