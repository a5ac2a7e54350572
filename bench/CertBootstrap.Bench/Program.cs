using System.Globalization;
using System.Runtime.InteropServices;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;

namespace MtlsAspire.CertBootstrap.Bench;

/// <summary>
/// Issuance benchmark: initializes a PKI in a fresh temporary directory, warms up, issues N leaves end to end
/// (key, certificate, ledger row, atomic file generation) with P workers, then times the parts of an issuance
/// one by one so the end-to-end figure can be attributed.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        BenchOptions options;
        try
        {
            options = BenchOptions.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(BenchOptions.Usage);
            return 2;
        }

        string work;
        if (options.BaseDirectory is null)
        {
            work = Directory.CreateTempSubdirectory("cb-bench-").FullName;
        }
        else
        {
            work = Path.Combine(Path.GetFullPath(options.BaseDirectory), $"cb-bench-{Guid.NewGuid():N}");
            Directory.CreateDirectory(work);
        }

        try
        {
            Run(options, work);
            return 0;
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(work, recursive: true);
        }
    }

    private static void Run(BenchOptions options, string work)
    {
        var mode = options.Batch is { } batch ? $"batch {batch}" : "single";
        var fileSystem = FileSystemType.Of(work);
        WriteLine($"CertBootstrap issuance benchmark: {options.KeyType.ToName()}, count {options.Count}, parallel {options.Parallel}, " +
            $"services {options.Services}, warmup {options.Warmup}, mode {mode}");
        WriteLine($"runtime {RuntimeInformation.FrameworkDescription}, {RuntimeInformation.OSDescription}, {Environment.ProcessorCount} logical CPUs, " +
            $"server GC {System.Runtime.GCSettings.IsServerGC}");
        WriteLine($"work directory {work} ({fileSystem})");
        if (options.Parallel > 1 && options.Services % options.Parallel != 0)
        {
            WriteLine($"note: --services {options.Services} is not a multiple of --parallel {options.Parallel}: workers will sometimes wait for each other's service-directory lock.");
        }

        var pki = Path.Combine(work, "pki");
        var passphrase = PassphraseSource.FromValue("bench-passphrase-not-a-secret");
        var init = Measurement.Run("init (root + intermediate + CRLs)", 1,
            () => CertificateAuthority.Initialize(pki, new PkiSettings { KeyType = options.KeyType }, passphrase, TimeProvider.System));
        var authority = CertificateAuthority.Open(pki, passphrase, TimeProvider.System);
        var authorities = options.Parallel == 1
            ? [authority]
            : Enumerable.Range(0, options.Parallel).Select(_ => CertificateAuthority.Open(pki, passphrase, TimeProvider.System)).ToArray();

        if (options.Warmup > 0)
        {
            IssuanceRun.Run("warmup", authorities, options.Warmup, options.Services, options.Batch);
        }

        var issued = IssuanceRun.Run("issue (end to end)", authorities, options.Count, options.Services, options.Batch);

        var leaves = authority.Ledger.All().Count(e => e.Kind == Ledger.CertificateKind.Leaf);
        var expected = options.Warmup + options.Count;
        if (leaves != expected)
        {
            throw new InvalidOperationException($"The ledger holds {leaves} leaves, expected {expected}.");
        }

        WriteLine("");
        WriteLine($"init: {init.Elapsed.TotalMilliseconds:F0} ms");
        WriteLine($"ledger check: {leaves} leaves recorded (warmup + measured), as expected");
        WriteLine("");
        WriteLine("== end to end ==");
        WriteLine(Measurement.Header);
        WriteLine(issued.ToString());
        WriteLine("");
        WriteLine($"issuances/second        {issued.PerSecond:F1}");
        WriteLine($"mean ms per issuance    {issued.MeanMilliseconds:F3}   (wall time / N; with P workers a single issuance takes ~P times this)");
        WriteLine($"CPU ms per issuance     {issued.CpuMillisecondsPerOperation:F3}   (process CPU time / N, all threads)");
        WriteLine($"CPU utilisation         {issued.Cpu / issued.Elapsed:F2} cores of {Environment.ProcessorCount}");

        if (options.Breakdown)
        {
            WriteLine("");
            Breakdown.Run(authority, options, work, issued);
        }

        if (options.Fleet)
        {
            WriteLine("");
            FleetSimulation.Run(options, Path.Combine(work, "fleet"), passphrase);
        }

        if (options.CrlEntries is { } entries)
        {
            WriteLine("");
            CrlBench.Run(entries, Path.Combine(work, "crl"), passphrase);
        }

        // The one line a script parses: keep it last.
        WriteLine("");
        WriteLine($"issuance: leaves/s={issued.PerSecond:F0} mode={mode} parallel={options.Parallel} dir={fileSystem}");
    }

    internal static void WriteLine(FormattableString text) => Console.WriteLine(text.ToString(CultureInfo.InvariantCulture));

    internal static void WriteLine(string text) => Console.WriteLine(text);
}
