using System.Security.Cryptography;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Authority;

/// <summary>
/// Where the root key's passphrase comes from, in order: a file the operator names, the
/// <c>MTLS_ROOT_PASSPHRASE</c> variable, or (local use) a random one generated at init into a 0600 file beside the key.
/// </summary>
public sealed class PassphraseSource
{
    /// <summary>The environment variable holding the passphrase.</summary>
    public const string EnvironmentVariable = "MTLS_ROOT_PASSPHRASE";

    private readonly string? _file;
    private readonly string? _value;

    private PassphraseSource(string? file, string? value)
    {
        _file = file;
        _value = value;
    }

    /// <summary>From <c>--passphrase-file</c> when given, else from <c>MTLS_ROOT_PASSPHRASE</c>, else local.</summary>
    public static PassphraseSource FromFileOrEnvironment(string? passphraseFile) =>
        new(passphraseFile, System.Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } v ? v : null);

    /// <summary>An explicit passphrase (tests, embedding hosts).</summary>
    public static PassphraseSource FromValue(string passphrase) => new(null, passphrase);

    /// <summary>Only the locally generated file beside the root key.</summary>
    public static PassphraseSource Local { get; } = new(null, null);

    /// <summary>True when the operator supplied a passphrase (file or variable).</summary>
    public bool IsSupplied => _file is not null || _value is not null;

    /// <summary>The passphrase and a description of where it came from (never the passphrase itself).</summary>
    public (string Passphrase, string Origin) Resolve(string rootDirectory)
    {
        if (_file is not null)
        {
            return (ReadFile(_file), _file);
        }

        if (_value is not null)
        {
            return (_value, $"the {EnvironmentVariable} variable");
        }

        var local = PkiLayout.PassphraseIn(rootDirectory);
        if (File.Exists(local))
        {
            return (ReadFile(local), local);
        }

        throw new PkiException($"The root key needs a passphrase: pass --passphrase-file or set {EnvironmentVariable} (no local passphrase file {local}).");
    }

    /// <summary>Generates a random passphrase into the 0600 file beside the root key, for local use.</summary>
    public static string GenerateLocal(string rootDirectory)
    {
        var passphrase = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        SecureFiles.WriteNew(PkiLayout.PassphraseIn(rootDirectory), passphrase + "\n", SecureFiles.Secret);
        return passphrase;
    }

    private static string ReadFile(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path).TrimEnd('\r', '\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PkiException($"Cannot read the passphrase file {path}: {e.Message}", e);
        }

        return text.Length > 0 ? text : throw new PkiException($"The passphrase file {path} is empty.");
    }
}
