using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Authority;

/// <summary>
/// One rotation at a time per PKI directory, across processes (the AppHost's commands, the CLI): an exclusive lock on
/// <c>{pki}/rotation.lock</c>, with who holds it written beside it so a refused caller can say which operation runs.
/// </summary>
public sealed class OperationLock : IDisposable
{
    private readonly FileStream _lock;
    private readonly string _holderFile;

    private OperationLock(FileStream @lock, string holderFile)
    {
        _lock = @lock;
        _holderFile = holderFile;
    }

    /// <summary>
    /// Takes the lock for <paramref name="operation"/>, or throws <see cref="PkiException"/> saying which operation holds it.
    /// </summary>
    public static OperationLock Acquire(PkiLayout layout, string operation, TimeProvider time)
    {
        var path = Path.Combine(layout.Root, "rotation.lock");
        var holderFile = Path.Combine(layout.Root, "rotation.holder");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = SecureFiles.Secret;
            }

            var stream = new FileStream(path, options);
            try
            {
                SecureFiles.ReplaceAtomically(holderFile,
                $"{Environment.ProcessId}\n{operation} (process {Environment.ProcessId}, {Path.GetFileName(Environment.ProcessPath ?? "?")}), since {time.GetUtcNow():u}\n", SecureFiles.Public);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stream.Dispose(); // the lock is ours: never leak it because its description could not be written
                throw new PkiException($"Cannot write {holderFile}: {e.Message}", e);
            }

            return new OperationLock(stream, holderFile);
        }
        catch (IOException) when (File.Exists(path))
        {
            throw new PkiException($"Refused: another rotation is running: {Holder(holderFile)}. Wait for it to finish (the pki resource's console log shows its steps).");
        }
    }

    private static string Holder(string holderFile) => ReadHolder(holderFile)?.Description ?? "an operation whose description could not be read";

    /// <summary>
    /// The operation holding the lock of <paramref name="layout"/> now, and its process, or null when none does (a
    /// description left by a process that died is ignored). Reads only; never takes the lock.
    /// </summary>
    public static (int ProcessId, string Description)? CurrentHolder(PkiLayout layout)
    {
        if (ReadHolder(Path.Combine(layout.Root, "rotation.holder")) is not { } holder)
        {
            return null;
        }

        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(holder.ProcessId);
            return process.HasExited ? null : holder;
        }
        catch (ArgumentException)
        {
            return null; // that process is gone
        }
    }

    private static (int ProcessId, string Description)? ReadHolder(string holderFile)
    {
        try
        {
            return File.ReadAllText(holderFile).Split('\n', 2) is [var pid, var description] && int.TryParse(pid, out var id)
                ? (id, description.Trim())
                : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            File.Delete(_holderFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // the lock itself is what matters; a stale description is overwritten by the next holder
        }
        finally
        {
            _lock.Dispose();
        }
    }
}
