using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Fuzz;
using SharpFuzz;

// MtlsAspire.Fuzz list                              the target names, one a line
// MtlsAspire.Fuzz seeds DIR                         DIR/<target>/… seeds and DIR/issuers.pem, from a fresh PKI
// MtlsAspire.Fuzz run TARGET [ISSUERS.pem]          under afl-fuzz (SharpFuzz's out-of-process fork server)
// MtlsAspire.Fuzz replay TARGET [ISSUERS.pem] FILE… each file once; prints and exits 1 on an undocumented exception
using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
switch (args)
{
    case ["list"]:
        foreach (var target in FuzzTargets.All([], key))
        {
            Console.WriteLine(target.Name);
        }

        return 0;
    case ["seeds", var directory]:
        SeedSet.Create().Write(directory);
        return 0;
    case ["run", var name, .. var rest]:
    {
        var target = FuzzTargets.Find(FuzzTargets.All(Issuers(rest), key), name);
        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            target.Run(buffer.ToArray());
        });
        return 0;
    }

    case ["replay", var name, .. var rest]:
    {
        var issuersFile = rest.FirstOrDefault(f => f.EndsWith(".pem", StringComparison.Ordinal));
        var target = FuzzTargets.Find(FuzzTargets.All(Issuers(issuersFile is null ? [] : [issuersFile]), key), name);
        var failed = 0;
        foreach (var file in rest.Where(f => f != issuersFile))
        {
            try
            {
                target.Run(File.ReadAllBytes(file));
            }
            catch (Exception e)
            {
                failed++;
                Console.WriteLine($"{file}: {e.GetType().FullName}: {e.Message}");
                Console.WriteLine(e.StackTrace);
            }
        }

        return failed == 0 ? 0 : 1;
    }

    default:
        Console.Error.WriteLine("usage: MtlsAspire.Fuzz list | seeds DIR | run TARGET [ISSUERS.pem] | replay TARGET [ISSUERS.pem] FILE...");
        return 2;
}

// The framework's PEM reader, not ours: instrumented code may run only inside Fuzzer.OutOfProcess.Run.
static List<X509Certificate2> Issuers(string[] rest)
{
    var issuers = new X509Certificate2Collection();
    if (rest is [var file, ..])
    {
        issuers.ImportFromPemFile(file);
    }

    return [.. issuers];
}
