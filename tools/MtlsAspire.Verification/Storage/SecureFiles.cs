using System.Runtime.InteropServices;
using System.Text;

namespace MtlsAspire.Verification.Storage;

/// <summary>
/// File writes for key material: directories 0700, secret files 0600 from the moment they exist (never chmod'ed after),
/// every replacement written to a temporary name, flushed and renamed over the old one so a reader sees old or new, never half.
/// </summary>
public static partial class SecureFiles
{
    /// <summary>rwx for the owner only.</summary>
    public const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>rw for the owner only: private keys, passphrases.</summary>
    public const UnixFileMode Secret = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>rw for the owner, r for others: certificates, bundles, CRLs.</summary>
    public const UnixFileMode Public = Secret | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>Creates <paramref name="path"/> and every missing parent with mode 0700; existing directories are left as they are.</summary>
    public static void CreatePrivateDirectory(string path)
    {
        var missing = new Stack<string>();
        for (var current = Path.GetFullPath(path); !Directory.Exists(current); current = Path.GetDirectoryName(current)!)
        {
            missing.Push(current);
        }

        while (missing.TryPop(out var directory))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, PrivateDirectory);
            }
        }
    }

    /// <summary>Writes a new file that must not exist yet, with <paramref name="mode"/> from creation, flushed to disk.</summary>
    public static void WriteNew(string path, string text, UnixFileMode mode, bool flushToDisk = true) =>
        WriteNew(path, Encoding.ASCII.GetBytes(text), mode, flushToDisk);

    /// <summary>Writes a new file that must not exist yet, with <paramref name="mode"/> from creation.</summary>
    public static void WriteNew(string path, ReadOnlySpan<byte> bytes, UnixFileMode mode, bool flushToDisk = true)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = mode;
        }

        using var stream = new FileStream(path, options);
        stream.Write(bytes);
        stream.Flush(flushToDisk);
    }

    /// <summary>Replaces <paramref name="path"/> atomically: write a temporary sibling, flush, rename over.</summary>
    public static void ReplaceAtomically(string path, string text, UnixFileMode mode) => ReplaceAllAtomically([(path, text)], mode);

    /// <summary>
    /// Replaces several files as one step as far as a file system allows: every one is written to a temporary sibling
    /// and flushed before any is renamed over its target, so a failure while writing leaves every target as it was.
    /// Each file gets exactly <paramref name="mode"/>, whatever the umask.
    /// </summary>
    public static void ReplaceAllAtomically(IReadOnlyList<(string Path, string Text)> files, UnixFileMode mode)
    {
        var temporaries = files.Select(f => $"{f.Path}.{Guid.NewGuid():N}.tmp").ToList();
        try
        {
            for (var i = 0; i < files.Count; i++)
            {
                WriteNew(temporaries[i], files[i].Text, mode);
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(temporaries[i], mode); // the creation mode was masked by the umask; no wider than asked
                }
            }

            for (var i = 0; i < files.Count; i++)
            {
                File.Move(temporaries[i], files[i].Path, overwrite: true);
            }
        }
        finally
        {
            foreach (var temporary in temporaries)
            {
                File.Delete(temporary);
            }
        }
    }

    /// <summary>
    /// Points the symbolic link <paramref name="linkPath"/> at <paramref name="target"/> atomically (rename(2) of a
    /// new link over the old one), as Kubernetes swaps the <c>..data</c> link of a mounted Secret.
    /// </summary>
    public static void SwapSymbolicLink(string linkPath, string target)
    {
        var temporary = $"{linkPath}.{Guid.NewGuid():N}.tmp";
        File.CreateSymbolicLink(temporary, target);
        if (Rename(temporary, linkPath) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            File.Delete(temporary);
            throw new IOException($"Could not swap the link '{linkPath}' to '{target}': {Marshal.GetPInvokeErrorMessage(errno)}.");
        }
    }

    /// <summary>
    /// Takes an exclusive advisory lock (flock on Unix, via <see cref="FileShare.None"/>) on <paramref name="lockPath"/>,
    /// waiting up to 30 seconds for another process to release it. Dispose the stream to release it.
    /// </summary>
    public static FileStream AcquireLock(string lockPath)
    {
        var deadline = Environment.TickCount64 + 30_000;
        var spin = new SpinWait();
        while (true)
        {
            try
            {
                var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = Secret;
                }

                return new FileStream(lockPath, options);
            }
            catch (IOException) when (Environment.TickCount64 < deadline && File.Exists(lockPath))
            {
                spin.SpinOnce(sleep1Threshold: 10);
            }
        }
    }

    /// <summary>
    /// Makes <paramref name="linkPath"/> a second name (a hard link) of the file <paramref name="existing"/>: no new inode
    /// and no data written. Returns 0, or the errno why not (e.g. EXDEV across file systems, ENOENT when
    /// <paramref name="existing"/> is gone); on Windows, always a non-zero value.
    /// </summary>
    public static int TryHardLink(string existing, string linkPath)
    {
        if (OperatingSystem.IsWindows())
        {
            return -1;
        }

        return Link(existing, linkPath) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>
    /// Writes everything pending on the file system that holds <paramref name="anyFileOnIt"/> to stable storage: data,
    /// inodes and directory entries, with one syncfs(2) instead of an fsync per file and per directory (a group
    /// commit). On other systems than Linux, does nothing.
    /// </summary>
    public static void FlushFileSystem(SafeHandle anyFileOnIt)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var added = false;
        try
        {
            anyFileOnIt.DangerousAddRef(ref added);
            if (SyncFs(anyFileOnIt.DangerousGetHandle().ToInt32()) != 0)
            {
                throw new IOException($"syncfs failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}.");
            }
        }
        finally
        {
            if (added)
            {
                anyFileOnIt.DangerousRelease();
            }
        }
    }

    /// <summary>The errno of a missing file (ENOENT).</summary>
    internal const int NoSuchFile = 2;

    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Rename(string oldPath, string newPath);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string linkPath);

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncFs(int fileDescriptor);
}
