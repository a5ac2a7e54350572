using System.Globalization;
using System.Runtime.InteropServices;

namespace MtlsAspire.Verification.Storage;

public static partial class SecureFiles
{
    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1, StatxMode = 0x2, StatxUid = 0x8;
    private const UnixFileMode WritableByOthers = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    /// <summary>
    /// Refuses to write key material into <paramref name="directory"/> (links followed) when a user other than this one
    /// could replace what is written there: the directory is writable by its group or by others, or is owned by another
    /// user than this one or root (root can replace anything anyway, and a root-owned directory is how an administrator
    /// hands one over). Throws <see cref="UnauthorizedAccessException"/> naming the directory, what is wrong and the
    /// command that fixes it. Only a writer calls this: a reader of a Kubernetes-mounted Secret sees a directory owned by
    /// root, often with mode 1777 (the kubelet's tmpfs), which is safe there and must not be refused. On other systems than
    /// Linux, does nothing.
    /// </summary>
    /// <param name="directory">The directory, which must exist.</param>
    /// <param name="what">What it is, for the message (e.g. "The credential directory").</param>
    public static void RequireOwnedPrivateDirectory(string directory, string what)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var full = Path.GetFullPath(directory);
        Span<byte> statx = stackalloc byte[256];
        if (Statx(AtFdCwd, full, 0, StatxType | StatxMode | StatxUid, statx) != 0)
        {
            throw new IOException($"Cannot read the owner and mode of {full}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}.");
        }

        // struct statx, the same on every Linux architecture: u32 mask, u32 blksize, u64 attributes, u32 nlink,
        // u32 uid (offset 20), u32 gid, u16 mode (offset 28).
        var owner = MemoryMarshal.Read<uint>(statx[20..]);
        var mode = (UnixFileMode)(MemoryMarshal.Read<ushort>(statx[28..]) & 0xFFF);
        var self = GetEffectiveUserId();
        var problems = new List<string>();
        var fixes = new List<string>();
        if (owner != self && owner != 0)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"is owned by uid {owner}, not by this user (uid {self}) or root"));
            fixes.Add(string.Create(CultureInfo.InvariantCulture, $"chown {self} {full}"));
        }

        if ((mode & WritableByOthers) != 0)
        {
            problems.Add($"is writable by {((mode & WritableByOthers) == WritableByOthers ? "its group and by others" : (mode & UnixFileMode.OtherWrite) != 0 ? "others" : "its group")} (mode {Octal(mode)})");
            fixes.Add($"chmod 700 {full}");
        }

        if (problems.Count > 0)
        {
            throw new UnauthorizedAccessException(
                $"{what} {full} {string.Join(" and ", problems)}: another user could replace the key and certificate in it. " +
                $"Nothing was written. Fix it with: {string.Join(" && ", fixes)} (or remove the directory and let it be created, mode 0700).");
        }
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode, 8);

    /// <summary>True when <paramref name="path"/> itself is a symbolic link, whatever it points to.</summary>
    internal static bool IsLink(string path) => new FileInfo(path).LinkTarget is not null;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int directoryFd, string path, int flags, uint mask, Span<byte> buffer);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();
}
