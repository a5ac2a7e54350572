using MtlsAspire.Verification.Storage;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>
/// A directory as the kubelet (or cert-manager's CSI driver) writes a mounted volume: each file a link
/// <c>name -> ..data/name</c>, <c>..data</c> a link to the current generation. A new generation is written whole, then
/// <c>..data</c> is swapped by one rename and the previous generation removed, as the kubelet's atomic writer does.
/// </summary>
public sealed class MountedVolume
{
    public MountedVolume(string path)
    {
        Path = path;
        Directory.CreateDirectory(path);
    }

    public string Path { get; }

    /// <summary>The path of the file <paramref name="name"/> as the pod sees it (the link).</summary>
    public string FileOf(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Makes <paramref name="files"/> the volume's content: a new generation, swapped in by a rename of <c>..data</c>.</summary>
    public void Publish(params (string Name, string Content)[] files)
    {
        var dataLink = System.IO.Path.Combine(Path, CredentialDirectory.DataLinkName);
        var previous = new FileInfo(dataLink).LinkTarget;
        var generation = $"..{DateTime.UtcNow:yyyy_MM_dd_HH_mm_ss.fffffff}_{Guid.NewGuid().ToString("N")[..6]}";
        Directory.CreateDirectory(System.IO.Path.Combine(Path, generation));
        foreach (var (name, content) in files)
        {
            File.WriteAllText(System.IO.Path.Combine(Path, generation, name), content);
        }

        SecureFiles.SwapSymbolicLink(dataLink, generation);
        foreach (var (name, _) in files)
        {
            if (new FileInfo(FileOf(name)).LinkTarget is null)
            {
                File.CreateSymbolicLink(FileOf(name), System.IO.Path.Combine(CredentialDirectory.DataLinkName, name));
            }
        }

        if (previous is not null)
        {
            Directory.Delete(System.IO.Path.Combine(Path, previous), recursive: true);
        }
    }
}
