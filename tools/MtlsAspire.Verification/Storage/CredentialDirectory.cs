namespace MtlsAspire.Verification.Storage;

/// <summary>
/// A service's credential directory, laid out as Kubernetes lays out a mounted Secret:
/// <code>
/// ..2026_11_23_19_52_53.1234567_ab12cd/   one generation: tls.crt tls.key ca.crt crl.pem
/// ..data -> ..2026_11_23_19_52_53.1234567_ab12cd
/// tls.crt -> ..data/tls.crt   (and tls.key, ca.crt, crl.pem)
/// </code>
/// A new generation is written completely, then <c>..data</c> is swapped by one rename(2), so a reader that
/// resolves <c>..data</c> once never pairs a certificate with another generation's key.
/// </summary>
public sealed class CredentialDirectory
{
    /// <summary>The link naming the current generation.</summary>
    public const string DataLinkName = "..data";

    private const string LockFileName = ".lock";

    /// <summary>Opens (without touching) the directory at <paramref name="path"/>.</summary>
    public CredentialDirectory(string path) => Path = System.IO.Path.GetFullPath(path);

    /// <summary>The directory.</summary>
    public string Path { get; }

    /// <summary>True when a generation has been published here (or plain files exist).</summary>
    public bool Exists => File.Exists(System.IO.Path.Combine(Path, CredentialFiles.CertificateFileName));

    /// <summary>
    /// Publishes <paramref name="files"/> as a new generation and makes it current atomically.
    /// </summary>
    public void Publish(CredentialFiles files, DateTimeOffset now)
    {
        using var staged = Stage(files, now);
        staged.Commit();
    }

    /// <summary>
    /// Publishes <paramref name="update"/> applied to the current files, reading and writing under the directory's
    /// lock so a concurrent publisher's generation is never overwritten with an older read.
    /// </summary>
    public void Update(Func<CredentialFiles, CredentialFiles> update, DateTimeOffset now)
    {
        using var writerLock = AcquireLock();
        using var staged = StageLocked(update(Read()), now, writerLock);
        staged.Commit();
    }

    /// <summary>
    /// Writes <paramref name="files"/> as a new generation without making it current: <see cref="StagedGeneration.Commit"/>
    /// swaps it in, disposing without committing deletes it. Concurrent publishers (other processes included) are
    /// serialized by an advisory lock on <c>.lock</c>, held until the staged generation is disposed.
    /// </summary>
    public StagedGeneration Stage(CredentialFiles files, DateTimeOffset now)
    {
        SecureFiles.CreatePrivateDirectory(Path);
        var writerLock = AcquireLock();
        try
        {
            return StageLocked(files, now, writerLock);
        }
        catch
        {
            writerLock.Dispose();
            throw;
        }
    }

    private StagedGeneration StageLocked(CredentialFiles files, DateTimeOffset now, FileStream writerLock)
    {
        var generation = $"..{now.UtcDateTime:yyyy_MM_dd_HH_mm_ss.fffffff}_{Guid.NewGuid().ToString("N")[..6]}";
        var generationPath = System.IO.Path.Combine(Path, generation);
        SecureFiles.CreatePrivateDirectory(generationPath);
        try
        {
            // Not fsync'ed (as Kubernetes' AtomicWriter does not): the ledger is the durable record, and a
            // generation lost to a power cut is replaced by renewing. Readers see whole generations either way.
            SecureFiles.WriteNew(System.IO.Path.Combine(generationPath, CredentialFiles.CertificateFileName), files.CertificatePem, SecureFiles.Public, flushToDisk: false);
            SecureFiles.WriteNew(System.IO.Path.Combine(generationPath, CredentialFiles.KeyFileName), files.KeyPem, SecureFiles.Secret, flushToDisk: false);
            SecureFiles.WriteNew(System.IO.Path.Combine(generationPath, CredentialFiles.BundleFileName), files.BundlePem, SecureFiles.Public, flushToDisk: false);
            SecureFiles.WriteNew(System.IO.Path.Combine(generationPath, CredentialFiles.CrlFileName), files.CrlPem, SecureFiles.Public, flushToDisk: false);
        }
        catch
        {
            Directory.Delete(generationPath, recursive: true);
            throw;
        }

        return new StagedGeneration(this, generation, writerLock);
    }

    /// <summary>A generation written but not yet current; see <see cref="Stage"/>.</summary>
    public sealed class StagedGeneration : IDisposable
    {
        private readonly CredentialDirectory _directory;
        private readonly string _generation;
        private readonly FileStream _lock;
        private bool _committed;

        internal StagedGeneration(CredentialDirectory directory, string generation, FileStream writerLock)
        {
            _directory = directory;
            _generation = generation;
            _lock = writerLock;
        }

        /// <summary>Makes the generation current with one rename of <c>..data</c>, then prunes all but the previous one.</summary>
        public void Commit()
        {
            ObjectDisposedException.ThrowIf(_lock.SafeFileHandle.IsClosed, this);
            var path = _directory.Path;
            var dataLink = System.IO.Path.Combine(path, DataLinkName);
            var previous = new FileInfo(dataLink).LinkTarget;
            SecureFiles.SwapSymbolicLink(dataLink, _generation);
            _committed = true;

            foreach (var name in CredentialFiles.FileNames)
            {
                var link = System.IO.Path.Combine(path, name);
                var target = System.IO.Path.Combine(DataLinkName, name);
                if (new FileInfo(link).LinkTarget != target)
                {
                    SecureFiles.SwapSymbolicLink(link, target);
                }
            }

            _directory.PruneGenerations(keep: [_generation, previous]);
        }

        /// <inheritdoc />
        public void Dispose()
        {
            try
            {
                if (!_committed && !_lock.SafeFileHandle.IsClosed)
                {
                    Directory.Delete(System.IO.Path.Combine(_directory.Path, _generation), recursive: true);
                }
            }
            finally
            {
                _lock.Dispose();
            }
        }
    }

    /// <summary>
    /// Reads the current generation as one consistent set. Resolves <c>..data</c> once and reads every file through
    /// that generation; if a publisher prunes it meanwhile, resolves again. A directory of plain files (no
    /// <c>..data</c>) is read as it is.
    /// </summary>
    public CredentialFiles Read()
    {
        const int attempts = 5;
        for (var attempt = 1; ; attempt++)
        {
            var generationPath = ResolveCurrentGeneration();
            try
            {
                return new CredentialFiles(
                    File.ReadAllText(System.IO.Path.Combine(generationPath, CredentialFiles.CertificateFileName)),
                    File.ReadAllText(System.IO.Path.Combine(generationPath, CredentialFiles.KeyFileName)),
                    File.ReadAllText(System.IO.Path.Combine(generationPath, CredentialFiles.BundleFileName)),
                    ReadOptional(System.IO.Path.Combine(generationPath, CredentialFiles.CrlFileName)));
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException && attempt < attempts && generationPath != Path)
            {
                // The generation was pruned between resolving the link and reading it: resolve again.
            }
        }
    }

    /// <summary>The directory of the current generation (the resolved <c>..data</c>), or <see cref="Path"/> for plain files.</summary>
    public string ResolveCurrentGeneration()
    {
        var dataLink = new FileInfo(System.IO.Path.Combine(Path, DataLinkName));
        return dataLink.LinkTarget is { } target ? System.IO.Path.GetFullPath(target, Path) : Path;
    }

    private static string ReadOptional(string path) => File.Exists(path) ? File.ReadAllText(path) : string.Empty;

    private FileStream AcquireLock() => SecureFiles.AcquireLock(System.IO.Path.Combine(Path, LockFileName));

    internal void PruneGenerations(string?[] keep)
    {
        foreach (var directory in Directory.EnumerateDirectories(Path, "..*"))
        {
            var name = System.IO.Path.GetFileName(directory);
            if (name != DataLinkName && !keep.Contains(name))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }
}
