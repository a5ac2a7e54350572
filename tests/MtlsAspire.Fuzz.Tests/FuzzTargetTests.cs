using System.Security.Cryptography;
using CsCheck;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.Fuzz.Tests;

/// <summary>One seed PKI for every test of the class: making it (keys, issuance, CRLs) is the slow part.</summary>
public sealed class SeedFixture : IDisposable
{
    public SeedFixture()
    {
        Seeds = SeedSet.Create();
        Targets = FuzzTargets.All(Seeds.Issuers, Key);
    }

    public ECDsa Key { get; } = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public SeedSet Seeds { get; }

    public IReadOnlyList<FuzzTarget> Targets { get; }

    public void Dispose()
    {
        Key.Dispose();
        foreach (var issuer in Seeds.Issuers)
        {
            issuer.Dispose();
        }
    }
}

/// <summary>
/// What fuzz/run.sh checks under AFL, in-process and in seconds: each target's seeds, then random and mutated inputs,
/// raise only the errors its parser documents.
/// </summary>
public class FuzzTargetTests(SeedFixture fixture) : IClassFixture<SeedFixture>
{
    // Bytes that make up the inputs' grammars (PEM armour, SPIFFE IDs, XFCC fields, durations), so random strings
    // reach past the first character check.
    private const string Alphabet = "-BEGIN CRTFA509L\nspiffe://.-_/abcdxyz0123456789dhms=;,URI?#:@%\u00e9\u0661\0";

    public static TheoryData<string> Names
    {
        get
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            return [.. FuzzTargets.All([], key).Select(t => t.Name)];
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Every_seed_is_parsed_without_an_undocumented_error(string name)
    {
        var target = FuzzTargets.Find(fixture.Targets, name);
        var seeds = fixture.Seeds.ByTarget[name];

        Assert.NotEmpty(seeds);
        Assert.All(seeds, seed => target.Run(seed.Bytes));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Random_and_mutated_inputs_raise_only_documented_errors(string name)
    {
        var target = FuzzTargets.Find(fixture.Targets, name);
        var seeds = fixture.Seeds.ByTarget[name].Select(s => s.Bytes).ToList();
        var random = Gen.OneOf(
            Gen.Byte.Array[0, 128],
            Gen.Char[Alphabet].Array[0, 64].Select(chars => FuzzTargets.Utf8(new string(chars))));
        var mutated = Gen.Select(Gen.Int[0, seeds.Count - 1], Gen.Int[0, 5], Gen.Int[0, int.MaxValue], Gen.Byte.Array[1, 8],
            (seed, operation, at, bytes) => Mutate(seeds[seed], operation, at, bytes));

        // One thread: the san target signs with one shared key.
        Gen.Frequency((1, random), (3, mutated)).Sample(target.Run, iter: 300, threads: 1);
    }

    [Fact]
    public void The_seeds_are_real_inputs_the_parsers_accept()
    {
        var parts = FuzzTargets.Text(fixture.Seeds.ByTarget["credentials"].Single().Bytes).Split((char)FuzzTargets.FileSeparator);
        using var credentials = ServiceCredentials.Parse(new CredentialFiles(parts[0], parts[1], parts[2], parts[3]), "seed");
        var crl = RevocationSet.Load(FuzzTargets.Text(fixture.Seeds.ByTarget["crl-pem"].Single().Bytes), fixture.Seeds.Issuers, "crl.pem");

        Assert.Equal("order", credentials.SpiffeId.ServiceName);
        Assert.Equal(2, crl.Loaded.Count);
        Assert.Contains(crl.Loaded, status => status.Revoked == 1);
    }

    // A seed with bytes overwritten, inserted or removed at one place, cut there, one of its bytes repeated there (AFL's
    // havoc found the duration overflows that way: "666666666666690d"), or a line end or other blank appended (AFL found
    // NameRules taking "l\n" for a name).
    private static byte[] Mutate(byte[] seed, int operation, int at, byte[] bytes)
    {
        var position = at % (seed.Length + 1);
        var result = new List<byte>(seed);
        switch (operation)
        {
            case 0:
                for (var i = 0; i < bytes.Length && position + i < result.Count; i++)
                {
                    result[position + i] = bytes[i];
                }

                break;
            case 1:
                result.InsertRange(position, bytes);
                break;
            case 2:
                result.RemoveRange(position, Math.Min(bytes.Length, result.Count - position));
                break;
            case 3:
                result.RemoveRange(position, result.Count - position);
                break;
            case 4:
                result.Add("\n\r\t \0"u8[bytes[0] % 5]);
                break;
            default:
                result.InsertRange(position, Enumerable.Repeat(position < seed.Length ? seed[position] : bytes[0], 8 + (bytes[0] % 24)));
                break;
        }

        return [.. result];
    }
}
