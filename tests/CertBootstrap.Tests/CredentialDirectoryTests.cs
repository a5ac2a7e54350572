using System.Runtime.InteropServices;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Tests;

/// <summary>
/// A credential directory that already exists is not trusted as it is: the writer refuses one another user could write
/// into, and pruning old generations deletes only what it wrote, never through a link.
/// </summary>
public partial class CredentialDirectoryTests
{
    private const uint AnotherUser = 54321;

    private static string Ledger(TestPki pki) => string.Join("\n", pki.Authority.Ledger.All().Select(e => $"{e.Serial} {e.Status}"));

    [Theory]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute, "its group and by others (mode 0777)")]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute,
        "its group (mode 0770)")]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute, "others (mode 0703)")]
    public void A_group_or_other_writable_credential_directory_is_refused_naming_it_and_the_chmod_that_fixes_it(UnixFileMode mode, string described)
    {
        using var pki = new TestPki();
        var directory = Path.Combine(pki.Directory, "order");
        Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, mode);
        var before = Ledger(pki);

        var error = Assert.Throws<PkiException>(() => pki.Authority.Issue(new LeafRequest("order") { OutputDirectory = directory }));

        Assert.Contains($"The credential directory {directory} is writable by {described}", error.Message, StringComparison.Ordinal);
        Assert.Contains($"chmod 700 {directory}", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(directory)); // nothing written, not even the lock file
        Assert.Equal(before, Ledger(pki));

        File.SetUnixFileMode(directory, SecureFiles.PrivateDirectory);
        Assert.NotNull(pki.Authority.Issue(new LeafRequest("order") { OutputDirectory = directory }).Entry); // fixed as told, it works
    }

    [Fact]
    public void A_credential_directory_owned_by_another_user_is_refused_naming_it_and_the_chown_that_fixes_it()
    {
        using var pki = new TestPki();
        pki.Authority.Issue(new LeafRequest("order"));
        var directory = pki.Authority.Layout.ServiceDirectory("order");
        var files = new CredentialDirectory(directory).Read();
        var before = Ledger(pki);
        if (Chown(directory, AnotherUser, AnotherUser) != 0)
        {
            // Only root can give a directory away (the CI runs the tests as root); elsewhere there is nothing to test.
            Assert.NotEqual(0u, GetEffectiveUserId());
            return;
        }

        // A renewal rewrites the directory; a revocation refreshes every directory's ca.crt and crl.pem: both refuse it.
        var renewal = Assert.Throws<PkiException>(() => pki.Authority.Renew("order"));
        var refresh = pki.Authority.RefreshServiceDirectories();

        foreach (var message in new[] { renewal.Message, Assert.Single(refresh.Failed) })
        {
            Assert.Contains($"The credential directory {directory} is owned by uid {AnotherUser}, not by this user (uid 0) or root", message, StringComparison.Ordinal);
            Assert.Contains($"chown 0 {directory}", message, StringComparison.Ordinal);
        }

        Assert.Equal(before, Ledger(pki));
        Assert.Equal(files, new CredentialDirectory(directory).Read()); // the service keeps what it had
    }

    [Fact]
    public void Pruning_never_follows_a_dotdot_link_and_the_files_of_the_directory_it_points_to_survive()
    {
        using var pki = new TestPki();
        pki.Authority.Issue(new LeafRequest("order"));
        var directory = pki.Authority.Layout.ServiceDirectory("order");
        var scratch = Path.Combine(pki.Directory, "scratch");
        Directory.CreateDirectory(scratch);
        var precious = Path.Combine(scratch, "precious.txt");
        File.WriteAllText(precious, "not a generation");
        var link = Path.Combine(directory, "..x");
        Directory.CreateSymbolicLink(link, scratch);

        // Each renewal publishes a generation and prunes all but the previous one: the link is among the candidates.
        for (var i = 0; i < 3; i++)
        {
            pki.Authority.Renew("order");
        }

        Assert.Equal("not a generation", File.ReadAllText(precious));
        Assert.Equal(scratch, new DirectoryInfo(link).LinkTarget);
        var generations = Directory.GetDirectories(directory, "..*").Where(d => !d.EndsWith("..data", StringComparison.Ordinal) && d != link).ToList();
        Assert.Equal(2, generations.Count); // the real old generations were pruned as before
    }

    [LibraryImport("libc", EntryPoint = "chown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Chown(string path, uint owner, uint group);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();
}
