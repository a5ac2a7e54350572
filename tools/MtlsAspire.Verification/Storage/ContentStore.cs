using System.Security.Cryptography;
using System.Text;

namespace MtlsAspire.Verification.Storage;

/// <summary>
/// Content-addressed copies of the files every generation of every service shares (<c>ca.crt</c>, <c>crl.pem</c>),
/// hard-linked into each new generation instead of written again: no new inode, no data written, nothing to flush.
/// A stored file is named by the SHA-256 of its text and never changed in place, so a generation that links it keeps
/// exactly what it was published with, whatever is stored later. A link is a second name of one file: whoever writes
/// a generation's ca.crt or crl.pem in place (instead of publishing a new generation) changes it in every generation
/// that links it. The store notices (length or modification time changed) and stores a fresh copy for the next ones.
/// </summary>
public sealed class ContentStore
{
    private const int Remembered = 4;
    private readonly Lock _lock = new();
    private readonly List<(string Text, string Path, long Length, DateTime Written)> _recent = [];

    /// <summary>A store in <paramref name="directory"/> (created, mode 0700, on first use).</summary>
    public ContentStore(string directory) => Directory = System.IO.Path.GetFullPath(directory);

    /// <summary>The directory of the stored files.</summary>
    public string Directory { get; }

    /// <summary>
    /// Makes <paramref name="destination"/> (which must not exist) a hard link of the stored file holding exactly
    /// <paramref name="text"/>, storing it first when needed. Returns false when a link cannot be made there (another
    /// file system, Windows): the caller then writes the file itself.
    /// </summary>
    public bool TryLink(string text, string destination)
    {
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            var errno = SecureFiles.TryHardLink(PathOf(text), destination);
            if (errno == 0)
            {
                return true;
            }

            if (errno != SecureFiles.NoSuchFile)
            {
                return false;
            }

            Forget(text); // another process retained other texts meanwhile: store it again
        }

        return false;
    }

    /// <summary>
    /// Removes every stored file except those holding <paramref name="texts"/>. A generation that links a removed file
    /// keeps its content (the link is a name of the same file).
    /// </summary>
    public void Retain(params IEnumerable<string> texts)
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return;
        }

        var keep = texts.Select(PathOf).ToHashSet(StringComparer.Ordinal);
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "sha256-*"))
        {
            // "sha256-{hash}.{guid}.tmp" is another process's copy being written (ReplaceAtomically): not ours to remove.
            if (!keep.Contains(file) && !System.IO.Path.GetFileName(file).Contains('.', StringComparison.Ordinal))
            {
                File.Delete(file);
            }
        }
    }

    // Another process may remove a stored file at any moment (Retain after its CA state changed): missing is "not held".
    private static bool HoldsText(string path, string text)
    {
        try
        {
            return File.ReadAllText(path) == text;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }

    /// <summary>The stored file holding <paramref name="text"/>, written (flushed) if it is not there or was changed.</summary>
    private string PathOf(string text)
    {
        lock (_lock)
        {
            // Issuance passes the same string instance again and again: find it by reference, not by hashing megabytes.
            foreach (var (recentText, recentPath, length, written) in _recent)
            {
                if (ReferenceEquals(recentText, text))
                {
                    var file = new FileInfo(recentPath);
                    if (file.Exists && file.Length == length && file.LastWriteTimeUtc == written)
                    {
                        return recentPath;
                    }
                }
            }
        }

        var path = System.IO.Path.Combine(Directory, $"sha256-{Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(text)))}");
        if (!HoldsText(path, text))
        {
            SecureFiles.CreatePrivateDirectory(Directory);
            SecureFiles.ReplaceAtomically(path, text, SecureFiles.Public); // a new file: generations linked to a changed one keep it
        }

        var stored = new FileInfo(path);
        lock (_lock)
        {
            _recent.RemoveAll(r => ReferenceEquals(r.Text, text));
            _recent.Insert(0, (text, path, stored.Length, stored.LastWriteTimeUtc));
            if (_recent.Count > Remembered)
            {
                _recent.RemoveAt(Remembered);
            }
        }

        return path;
    }

    private void Forget(string text)
    {
        lock (_lock)
        {
            _recent.RemoveAll(r => ReferenceEquals(r.Text, text));
        }
    }
}
