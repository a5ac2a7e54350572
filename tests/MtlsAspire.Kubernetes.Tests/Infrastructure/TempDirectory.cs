namespace MtlsAspire.Kubernetes.Tests.Infrastructure;

/// <summary>A fresh directory under the machine's temp directory, and its removal.</summary>
public static class TempDirectory
{
    public static string Create()
    {
        var path = Path.Combine(Path.GetTempPath(), "mtls-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(path);
        return path;
    }

    public static void Delete(string path)
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }
}
