using System.Diagnostics;

namespace MtlsAspire.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A small tmpfs mounted on a directory until disposed, which <see cref="Fill"/> fills to the last block, so that writes
/// fail as on a full disk (ENOSPC). Needs <c>mount</c> (root, or a privileged container): the tests run as root in CI.
/// </summary>
public sealed class SmallFileSystem : IDisposable
{
    private readonly string _directory;
    private readonly string _filler;

    private SmallFileSystem(string directory)
    {
        _directory = directory;
        _filler = Path.Combine(directory, "filler");
    }

    /// <summary>Mounts a tmpfs of <paramref name="megabytes"/> MB on <paramref name="directory"/> (created if missing, and empty).</summary>
    public static SmallFileSystem Mount(string directory, int megabytes)
    {
        Directory.CreateDirectory(directory);
        Run("mount", ["-t", "tmpfs", "-o", $"size={megabytes}m,mode=0700", "tmpfs", directory],
            "this test needs to mount a tmpfs (root in a privileged container); it cannot fill a disk otherwise");
        Assert.True(IsMounted(directory), $"{directory} is not a mount point after mount");
        return new SmallFileSystem(directory);
    }

    /// <summary>Writes a filler file until the file system has no block left.</summary>
    public void Fill()
    {
        var chunk = new byte[64 * 1024];
        using var filler = new FileStream(_filler, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1);
        try
        {
            while (true)
            {
                filler.Write(chunk);
            }
        }
        catch (IOException)
        {
            // Full; what did not fit of the last chunk is all that is left, less than a chunk.
        }

        // A last few bytes, until not even one fits.
        try
        {
            while (true)
            {
                filler.WriteByte(0);
                filler.Flush();
            }
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Deletes the filler: the space is free again.</summary>
    public void Drain() => File.Delete(_filler);

    public void Dispose()
    {
        // Pooled SQLite connections to a database on it would keep the file system busy.
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Run("umount", [_directory], "umount failed");
        Assert.False(IsMounted(_directory), $"{_directory} is still mounted");
    }

    private static bool IsMounted(string directory) =>
        File.ReadLines("/proc/mounts").Any(line => line.Split(' ') is [_, var point, ..] && point == Path.GetFullPath(directory).TrimEnd('/'));

    private static void Run(string command, string[] arguments, string why)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardError = true })
            ?? throw new InvalidOperationException($"{command} did not start");
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{command} {string.Join(' ', arguments)}: exit {process.ExitCode}, {error.Trim()} ({why})");
    }
}
