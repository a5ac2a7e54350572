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
/// The trust bundle and the CRL may instead come from files elsewhere (<see cref="BundleFile"/>, <see cref="CrlFile"/>),
/// each of which may itself be a mounted ConfigMap's link into its own <c>..data</c> generation.
/// </summary>
public sealed class CredentialDirectory
{
    /// <summary>The link naming the current generation.</summary>
    public const string DataLinkName = "..data";

    private const string LockFileName = ".lock";

    /// <summary>
    /// Opens (without touching) the directory at <paramref name="path"/>; with <paramref name="bundleFile"/> or
    /// <paramref name="crlFile"/>, ca.crt or crl.pem are read from that file instead (the directory's own are ignored).
    /// </summary>
    public CredentialDirectory(string path, string? bundleFile = null, string? crlFile = null)
    {
        Path = System.IO.Path.GetFullPath(path);
        BundleFile = bundleFile is null ? null : System.IO.Path.GetFullPath(bundleFile);
        CrlFile = crlFile is null ? null : System.IO.Path.GetFullPath(crlFile);
    }

    /// <summary>The directory.</summary>
    public string Path { get; }

    /// <summary>The file read instead of the directory's ca.crt, or null.</summary>
    public string? BundleFile { get; }

    /// <summary>The file read instead of the directory's crl.pem, or null.</summary>
    public string? CrlFile { get; }

    /// <summary>Where the trust bundle is read from: <see cref="BundleFile"/>, or the directory's ca.crt.</summary>
    public string BundleSource => BundleFile ?? System.IO.Path.Combine(Path, CredentialFiles.BundleFileName);

    /// <summary>Where the CRLs are read from: <see cref="CrlFile"/>, or the directory's crl.pem.</summary>
    public string CrlSource => CrlFile ?? System.IO.Path.Combine(Path, CredentialFiles.CrlFileName);

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
        using var staged = StageUpdate(update, now);
        staged.Commit();
    }

    /// <summary>
    /// Stages <paramref name="update"/> applied to the current files (see <see cref="Update"/>) without making it
    /// current; the directory's lock is held from the read until the staged generation is committed or disposed.
    /// </summary>
    public StagedGeneration StageUpdate(Func<CredentialFiles, CredentialFiles> update, DateTimeOffset now, ContentStore? shared = null)
    {
        RequireWritableOnlyByOwner();
        var writerLock = AcquireLock();
        try
        {
            return StageLocked(update(Read()), now, writerLock, shared);
        }
        catch
        {
            writerLock.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes <paramref name="files"/> as a new generation without making it current: <see cref="StagedGeneration.Commit"/>
    /// swaps it in, disposing without committing deletes it. Concurrent publishers (other processes included) are
    /// serialized by an advisory lock on <c>.lock</c>, held until the staged generation is disposed. With
    /// <paramref name="shared"/>, ca.crt and crl.pem are hard links of its stored copies where the file system allows.
    /// </summary>
    public StagedGeneration Stage(CredentialFiles files, DateTimeOffset now, ContentStore? shared = null)
    {
        SecureFiles.CreatePrivateDirectory(Path);
        RequireWritableOnlyByOwner();
        var writerLock = AcquireLock();
        try
        {
            return StageLocked(files, now, writerLock, shared);
        }
        catch
        {
            writerLock.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A directory that already exists is not trusted as it is: one that another user could write into (group- or
    /// other-writable, or owned by another user than this one or root) is refused before anything is written, with the
    /// command that fixes it. Only writers check; see <see cref="SecureFiles.RequireOwnedPrivateDirectory"/> for why
    /// readers (a service, a Kubernetes-mounted Secret) do not.
    /// </summary>
    private void RequireWritableOnlyByOwner() => SecureFiles.RequireOwnedPrivateDirectory(Path, "The credential directory");

    private StagedGeneration StageLocked(CredentialFiles files, DateTimeOffset now, FileStream writerLock, ContentStore? shared)
    {
        var generation = $"..{now.UtcDateTime:yyyy_MM_dd_HH_mm_ss.fffffff}_{Guid.NewGuid().ToString("N")[..6]}";
        var generationPath = System.IO.Path.Combine(Path, generation);
        SecureFiles.CreatePrivateDirectory(generationPath);
        try
        {
            // Not flushed one by one: StagedGeneration.CommitAll flushes the whole file system once before a batch's swaps.
            SecureFiles.WriteNew(System.IO.Path.Combine(generationPath, CredentialFiles.CertificateFileName), files.CertificatePem, SecureFiles.Public, flushToDisk: false);
            SecureFiles.WriteNew(System.IO.Path.Combine(generationPath, CredentialFiles.KeyFileName), files.KeyPem, SecureFiles.Secret, flushToDisk: false);
            WriteShared(System.IO.Path.Combine(generationPath, CredentialFiles.BundleFileName), files.BundlePem, shared);
            WriteShared(System.IO.Path.Combine(generationPath, CredentialFiles.CrlFileName), files.CrlPem, shared);
        }
        catch
        {
            DeleteGeneration(generationPath);
            throw;
        }

        return new StagedGeneration(this, generation, writerLock);
    }

    private static void WriteShared(string path, string text, ContentStore? shared)
    {
        if (shared?.TryLink(text, path) != true)
        {
            SecureFiles.WriteNew(path, text, SecureFiles.Public, flushToDisk: false);
        }
    }

    /// <summary>A generation written but not yet current; see <see cref="Stage"/>.</summary>
    public sealed class StagedGeneration : IDisposable
    {
        private readonly string _generation;
        private readonly FileStream _lock;
        private bool _committed;

        internal StagedGeneration(CredentialDirectory directory, string generation, FileStream writerLock)
        {
            Directory = directory;
            _generation = generation;
            _lock = writerLock;
        }

        /// <summary>The credential directory it belongs to.</summary>
        public CredentialDirectory Directory { get; }

        /// <summary>
        /// Makes the generation current with one rename of <c>..data</c>, durably, then prunes all but the previous one;
        /// see <see cref="CommitAll"/>.
        /// </summary>
        public void Commit()
        {
            if (CommitAll([this]) is [var failure, ..])
            {
                throw new IOException($"Could not make the new generation current in {failure}");
            }
        }

        /// <summary>True once the generation is current.</summary>
        public bool IsCommitted => _committed;

        /// <summary>
        /// Makes every generation of <paramref name="staged"/> current, each with one rename of its <c>..data</c>, as a
        /// group commit: for a batch of more than one, one flush of each file system before the renames (so no
        /// <c>..data</c> can survive a power cut pointing at files that did not) and one after them (so the renames
        /// themselves are durable), then prunes all but each directory's previous generation. A single generation is
        /// not flushed: syncfs(2) writes back the whole file system, everyone's dirty data, which is cheap per leaf
        /// only when a batch shares it; the ledger is the durable record, and a generation lost to a power cut is
        /// replaced by the next renewal (as cert-manager's AtomicWriter, which does not fsync either). A directory that fails is skipped (its generation is deleted when
        /// disposed); the others are still committed. Returns one line per failure, naming the directory and the reason.
        /// </summary>
        public static IReadOnlyList<string> CommitAll(IReadOnlyList<StagedGeneration> staged)
        {
            foreach (var generation in staged)
            {
                ObjectDisposedException.ThrowIf(generation._lock.SafeFileHandle.IsClosed, generation);
            }

            var flush = staged.Count > 1;
            if (flush)
            {
                FlushFileSystems(staged);
            }

            var failures = new List<string>();
            var swapped = new List<(StagedGeneration Generation, string? Previous)>(staged.Count);
            foreach (var generation in staged)
            {
                try
                {
                    swapped.Add((generation, generation.Swap()));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    failures.Add($"{generation.Directory.Path}: {e.Message}");
                }
            }

            if (flush)
            {
                FlushFileSystems(swapped.Select(s => s.Generation).ToList());
            }

            foreach (var (generation, previous) in swapped)
            {
                try
                {
                    generation.Directory.PruneGenerations(keep: [generation._generation, previous]);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // An old generation left behind is pruned by the next commit; the new one is current.
                }
            }

            return failures;
        }

        // One syncfs per file system: the directories' parents stand in for their file systems.
        // A flush that fails leaves the batch as durable as a single generation (not flushed) and the commit goes on:
        // the ledger has already recorded these leaves, and a revocation's CRL must still reach every directory.
        private static void FlushFileSystems(IReadOnlyList<StagedGeneration> generations)
        {
            foreach (var group in generations.GroupBy(g => System.IO.Path.GetDirectoryName(g.Directory.Path), StringComparer.Ordinal))
            {
                try
                {
                    SecureFiles.FlushFileSystem(group.First()._lock.SafeFileHandle);
                }
                catch (IOException)
                {
                }
            }
        }

        private string? Swap()
        {
            var path = Directory.Path;
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

            return previous;
        }

        /// <inheritdoc />
        public void Dispose()
        {
            try
            {
                if (!_committed && !_lock.SafeFileHandle.IsClosed)
                {
                    DeleteGeneration(System.IO.Path.Combine(Directory.Path, _generation));
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
    /// <c>..data</c>) is read as it is. <see cref="BundleFile"/> and <see cref="CrlFile"/> are read through their links
    /// (each open resolves them once); a missing crl.pem or <see cref="CrlFile"/> reads as no CRL.
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
                    File.ReadAllText(BundleFile ?? System.IO.Path.Combine(generationPath, CredentialFiles.BundleFileName)),
                    ReadOptional(CrlFile ?? System.IO.Path.Combine(generationPath, CredentialFiles.CrlFileName)));
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

    /// <summary>
    /// The four files a <see cref="Read"/> takes now (in <see cref="CredentialFiles.FileNames"/> order), links resolved:
    /// tls.crt and tls.key in the current generation, ca.crt and crl.pem there or at <see cref="BundleFile"/> and
    /// <see cref="CrlFile"/> with their <c>..data</c> links followed. A new generation anywhere is a new path.
    /// </summary>
    public IReadOnlyList<string> ResolveCurrentFiles()
    {
        var generationPath = ResolveCurrentGeneration();
        return
        [
            System.IO.Path.Combine(generationPath, CredentialFiles.CertificateFileName),
            System.IO.Path.Combine(generationPath, CredentialFiles.KeyFileName),
            BundleFile is null ? System.IO.Path.Combine(generationPath, CredentialFiles.BundleFileName) : ResolveFile(BundleFile),
            CrlFile is null ? System.IO.Path.Combine(generationPath, CredentialFiles.CrlFileName) : ResolveFile(CrlFile),
        ];
    }

    /// <summary>
    /// The file <paramref name="path"/> finally names: a mounted ConfigMap's <c>ca.crt</c> → <c>..data/ca.crt</c> →
    /// <c>..2026_…/ca.crt</c> (its links followed, then the link of the directory it ends in). A missing file, or a
    /// link to one, is returned as given.
    /// </summary>
    public static string ResolveFile(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        try
        {
            var target = new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? full;
            var directory = System.IO.Path.GetDirectoryName(target)!;
            var resolvedDirectory = new DirectoryInfo(directory).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? directory;
            return System.IO.Path.Combine(resolvedDirectory, System.IO.Path.GetFileName(target));
        }
        catch (IOException)
        {
            return full; // not there (or mid-swap): the caller sees it missing
        }
    }

    private static string ReadOptional(string path) => File.Exists(path) ? File.ReadAllText(path) : string.Empty;

    private FileStream AcquireLock() => SecureFiles.AcquireLock(System.IO.Path.Combine(Path, LockFileName));

    /// <summary>
    /// Deletes every generation but <paramref name="keep"/>. A generation is a directory this class wrote, never a link:
    /// a <c>..name</c> link (to a directory anywhere) is left alone, and nothing is deleted through it.
    /// </summary>
    internal void PruneGenerations(string?[] keep)
    {
        foreach (var directory in Directory.EnumerateDirectories(Path, "..*"))
        {
            var name = System.IO.Path.GetFileName(directory);
            if (name != DataLinkName && !keep.Contains(name) && !SecureFiles.IsLink(directory))
            {
                DeleteGeneration(directory);
            }
        }
    }

    // A generation holds only files: unlink them, then rmdir (a recursive delete first tries rmdir, which fails).
    // Never through a link: enumerating a link to a directory would delete the files of that directory.
    private static void DeleteGeneration(string generationPath)
    {
        if (SecureFiles.IsLink(generationPath))
        {
            return;
        }

        foreach (var file in Directory.EnumerateFiles(generationPath))
        {
            File.Delete(file);
        }

        Directory.Delete(generationPath, recursive: true);
    }
}
