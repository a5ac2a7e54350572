using System.Diagnostics;

namespace MtlsAspire.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Makes a directory unwritable until disposed, for root too (the tests run as root in CI, and root ignores modes): the
/// immutable attribute (<c>chattr +i</c>, ext4 and most Linux file systems); as another user, mode 0500.
/// </summary>
public sealed class UnwritableDirectory : IDisposable
{
    private readonly string _directory;
    private readonly UnixFileMode? _mode;

    private UnwritableDirectory(string directory, UnixFileMode? mode)
    {
        _directory = directory;
        _mode = mode;
    }

    public static UnwritableDirectory Make(string directory)
    {
        if (Environment.UserName != "root")
        {
            var mode = File.GetUnixFileMode(directory);
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserExecute);
            return new UnwritableDirectory(directory, mode);
        }

        Chattr("+i", directory);
        return new UnwritableDirectory(directory, null);
    }

    public void Dispose()
    {
        if (_mode is { } mode)
        {
            File.SetUnixFileMode(_directory, mode);
        }
        else
        {
            Chattr("-i", _directory);
        }
    }

    private static void Chattr(string flag, string path)
    {
        using var chattr = Process.Start(new ProcessStartInfo("chattr", [flag, path]) { RedirectStandardError = true })
            ?? throw new InvalidOperationException("chattr did not start");
        var error = chattr.StandardError.ReadToEnd();
        chattr.WaitForExit();
        Assert.True(chattr.ExitCode == 0, $"chattr {flag} {path}: {error} (this test needs a file system with the immutable attribute)");
    }
}
