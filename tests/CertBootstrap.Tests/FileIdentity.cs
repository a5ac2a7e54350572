using System.Runtime.InteropServices;

namespace MtlsAspire.CertBootstrap.Tests;

/// <summary>A file's inode and link count (statx(2), whose layout is the same on every Linux architecture).</summary>
public readonly partial record struct FileIdentity(ulong Inode, uint Links)
{
    private const int AtFdCwd = -100;
    private const uint StatxNlink = 0x4;
    private const uint StatxIno = 0x100;

    public static FileIdentity Of(string path)
    {
        Span<byte> statx = stackalloc byte[256];
        if (Statx(AtFdCwd, path, 0, StatxNlink | StatxIno, statx) != 0)
        {
            throw new IOException($"statx({path}) failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }

        // struct statx: u32 mask, u32 blksize, u64 attributes, u32 nlink (offset 16), u32 uid, u32 gid, u16 mode, u16 pad, u64 ino (offset 32).
        return new FileIdentity(MemoryMarshal.Read<ulong>(statx[32..]), MemoryMarshal.Read<uint>(statx[16..]));
    }

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int directoryFd, string path, int flags, uint mask, Span<byte> buffer);
}
