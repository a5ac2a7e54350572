using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;

namespace MtlsAspire.CertBootstrap.Tests;

/// <summary>A PKI in a fresh temporary directory, on a fake clock that starts at the current second.</summary>
public sealed class TestPki : IDisposable
{
    public const string Passphrase = "correct horse battery staple";

    public TestPki(KeyType keyType = KeyType.EcdsaP256, PassphraseSource? passphrase = null)
    {
        Directory = TempDirectory.Create();
        PkiDirectory = Path.Combine(Directory, "pki");
        Time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        (Authority, Init) = CertificateAuthority.Initialize(PkiDirectory, new PkiSettings { KeyType = keyType }, passphrase ?? PassphraseSource.FromValue(Passphrase), Time);
    }

    public string Directory { get; }

    public string PkiDirectory { get; }

    public FakeTimeProvider Time { get; }

    public CertificateAuthority Authority { get; }

    public InitializedPki Init { get; }

    /// <summary>Opens the same PKI again, as another process would.</summary>
    public CertificateAuthority Reopen(PassphraseSource? passphrase = null) =>
        CertificateAuthority.Open(PkiDirectory, passphrase ?? PassphraseSource.FromValue(Passphrase), Time);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        TempDirectory.Delete(Directory);
    }
}

public static class TempDirectory
{
    public static string Create()
    {
        var path = Path.Combine(Path.GetTempPath(), "mtls-tests", Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(path);
        return path;
    }

    public static void Delete(string path)
    {
        if (System.IO.Directory.Exists(path))
        {
            System.IO.Directory.Delete(path, recursive: true);
        }
    }
}
