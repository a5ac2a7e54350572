using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using MtlsAspire.Kubernetes.Tests.Infrastructure;

namespace MtlsAspire.Kubernetes.Tests;

/// <summary>
/// No private key in what this repository ships: every blob of its git history (every branch and tag, not only the
/// current tree), the committed manifests under deploy/k8s and the manifests the publish command writes now, and no
/// state directory (where the CA's keys and the root passphrase live) that git would commit.
/// </summary>
public sealed class RepositorySecretsTests(PublishedManifests published) : IClassFixture<PublishedManifests>
{
    [Fact]
    public async Task No_blob_in_the_git_history_holds_a_private_key()
    {
        Assert.True(Directory.Exists(Path.Combine(Repository.Root, ".git")) || File.Exists(Path.Combine(Repository.Root, ".git")),
            $"{Repository.Root} is not a git clone: the history cannot be scanned");
        var blobs = (await GitAsync("rev-list", "--all", "--objects"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => (Id: line[..40], Path: line.Length > 41 ? line[41..] : ""))
            .DistinctBy(b => b.Id)
            .ToList();
        Assert.True(blobs.Count > 100, $"only {blobs.Count} objects in the history");

        var found = new List<string>();
        var scanned = 0;
        await foreach (var (id, text) in BlobsAsync(blobs.Select(b => b.Id)))
        {
            scanned++;
            found.AddRange(KeyMaterial.In(text).Select(what => $"{what} in blob {id} ({blobs.First(b => b.Id == id).Path})"));
        }

        Assert.True(scanned > 100, $"only {scanned} blobs read");
        Assert.True(found.Count == 0, string.Join("\n", found));
    }

    [Fact]
    public void The_committed_and_the_freshly_published_manifests_hold_no_private_key()
    {
        var files = Directory.EnumerateFiles(Path.Combine(Repository.Root, "deploy"), "*", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(published.SelfSigned.Directory, "*", SearchOption.AllDirectories))
            .ToList();
        Assert.Contains(files, f => f.EndsWith("certificates.yaml", StringComparison.Ordinal));

        var found = files.SelectMany(f => KeyMaterial.In(File.ReadAllText(f)).Select(what => $"{what} in {f}")).ToList();
        Assert.True(found.Count == 0, string.Join("\n", found));
        // cert-manager makes every Secret in the cluster; the manifests carry none of their own.
        Assert.DoesNotContain(published.SelfSigned.Objects, o => o.Kind == "Secret");
    }

    [Fact]
    public async Task Git_ignores_the_default_state_directory_and_its_key_files()
    {
        foreach (var path in (string[])[".state/pki/roots/0A1B/ca.key", ".state/pki/roots/0A1B/passphrase", ".state/pki/services/order/..2026_12_01/tls.key"])
        {
            Assert.True(await GitSucceedsAsync("check-ignore", "-q", "--no-index", path), $"git would commit {path}");
        }
    }

    [Fact]
    public void The_detector_finds_a_key_in_each_form_git_or_a_manifest_could_hold_it()
    {
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var rsa = RSA.Create(2048);
        var pkcs8 = ec.ExportPkcs8PrivateKeyPem();
        Assert.NotEmpty(KeyMaterial.In($"a: |\n  {pkcs8.Replace("\n", "\n  ", StringComparison.Ordinal)}\n"));
        Assert.NotEmpty(KeyMaterial.In(ec.ExportECPrivateKeyPem()));
        Assert.NotEmpty(KeyMaterial.In(rsa.ExportRSAPrivateKeyPem()));
        Assert.NotEmpty(KeyMaterial.In(ec.ExportEncryptedPkcs8PrivateKeyPem("x", new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 1000))));
        // A Secret's data: base64 of the PEM, and base64 of the bare DER.
        Assert.NotEmpty(KeyMaterial.In($"tls.key: {Convert.ToBase64String(Encoding.ASCII.GetBytes(pkcs8))}"));
        Assert.NotEmpty(KeyMaterial.In($"tls.key: {Convert.ToBase64String(ec.ExportPkcs8PrivateKey())}"));
        Assert.NotEmpty(KeyMaterial.In($"key = \"{Convert.ToBase64String(ec.ExportECPrivateKey())}\""));
        Assert.Empty(KeyMaterial.In(ec.ExportSubjectPublicKeyInfoPem() + "-----BEGIN " + "PRIVATE KEY-----\nnot base64\n"));
    }

    private static async Task<string> GitAsync(params string[] arguments)
    {
        using var git = StartGit(arguments, redirectInput: false);
        var output = git.StandardOutput.ReadToEndAsync();
        var error = git.StandardError.ReadToEndAsync();
        await git.WaitForExitAsync();
        Assert.True(git.ExitCode == 0, $"git {string.Join(' ', arguments)}: {await error}");
        return await output;
    }

    private static async Task<bool> GitSucceedsAsync(params string[] arguments)
    {
        using var git = StartGit(arguments, redirectInput: false);
        await git.StandardOutput.ReadToEndAsync();
        await git.StandardError.ReadToEndAsync();
        await git.WaitForExitAsync();
        return git.ExitCode == 0;
    }

    /// <summary>The text of each blob among <paramref name="ids"/> (other objects skipped), from one <c>git cat-file --batch</c>.</summary>
    private static async IAsyncEnumerable<(string Id, string Text)> BlobsAsync(IEnumerable<string> ids)
    {
        using var git = StartGit(["cat-file", "--batch"], redirectInput: true);
        var error = git.StandardError.ReadToEndAsync();
        var writer = Task.Run(async () =>
        {
            foreach (var id in ids)
            {
                await git.StandardInput.WriteLineAsync(id);
            }

            git.StandardInput.Close();
        });

        var output = git.StandardOutput.BaseStream;
        while (await ReadLineAsync(output) is { } header)
        {
            // "<id> <type> <size>", then size bytes and a newline.
            var parts = header.Split(' ');
            Assert.True(parts.Length == 3, $"git cat-file --batch: '{header}'");
            var content = new byte[int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture) + 1];
            await output.ReadExactlyAsync(content);
            if (parts[1] == "blob")
            {
                yield return (parts[0], Encoding.Latin1.GetString(content, 0, content.Length - 1));
            }
        }

        await writer;
        await git.WaitForExitAsync();
        Assert.True(git.ExitCode == 0, $"git cat-file --batch: {await error}");
    }

    private static async Task<string?> ReadLineAsync(Stream stream)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (await stream.ReadAsync(one) == 1)
        {
            if (one[0] == '\n')
            {
                return line.ToString();
            }

            line.Append((char)one[0]);
        }

        return line.Length == 0 ? null : line.ToString();
    }

    private static Process StartGit(IEnumerable<string> arguments, bool redirectInput)
    {
        var start = new ProcessStartInfo("git")
        {
            WorkingDirectory = Repository.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
        };
        // A clone owned by another user than the one testing it (a CI checkout) is still this repository.
        foreach (var argument in (string[])["-c", $"safe.directory={Repository.Root}", .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("git did not start");
    }
}
