namespace MtlsAspire.CertBootstrap.Bench;

/// <summary>The type of the file system a path is on (ext4, tmpfs, …), from the mount table.</summary>
internal static class FileSystemType
{
    public static string Of(string path)
    {
        const string mounts = "/proc/self/mounts";
        if (!File.Exists(mounts))
        {
            return "unknown";
        }

        // Fields: device, mount point, type, options. The longest mount point that contains the path is its file system.
        var full = Path.GetFullPath(path);
        return File.ReadLines(mounts)
            .Select(line => line.Split(' '))
            .Where(fields => fields.Length > 2 && Contains(fields[1].Replace("\\040", " ", StringComparison.Ordinal), full))
            .MaxBy(fields => fields[1].Length)?[2] ?? "unknown";
    }

    private static bool Contains(string mountPoint, string path) =>
        mountPoint == "/" || path == mountPoint || path.StartsWith(mountPoint + "/", StringComparison.Ordinal);
}
