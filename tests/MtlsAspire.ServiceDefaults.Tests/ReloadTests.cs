using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Storage;
using MtlsAspire.CertBootstrap.Tests;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>A bad new file set is refused, logged and counted, and the old one keeps serving: not one request fails.</summary>
public class ReloadTests
{
    /// <summary>Swaps a generation holding <paramref name="damage"/>d files into the server's directory, as a buggy writer would.</summary>
    private static void PublishDamaged(Scenario scenario, Func<CredentialFiles, CredentialFiles> damage)
    {
        var directory = new CredentialDirectory(scenario.ServerDirectory);
        var damaged = damage(directory.Read());
        var generation = Path.Combine(directory.Path, "..damaged_" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(generation);
        File.WriteAllText(Path.Combine(generation, "tls.crt"), damaged.CertificatePem);
        File.WriteAllText(Path.Combine(generation, "tls.key"), damaged.KeyPem);
        File.WriteAllText(Path.Combine(generation, "ca.crt"), damaged.BundlePem);
        File.WriteAllText(Path.Combine(generation, "crl.pem"), damaged.CrlPem);
        SecureFiles.SwapSymbolicLink(Path.Combine(directory.Path, CredentialDirectory.DataLinkName), Path.GetFileName(generation));
    }

    public static TheoryData<string, string> Damages => new()
    {
        { "half-written certificate", "tls.crt" },
        { "key of another service", "tls.key does not match the certificate" },
        { "corrupt CRL", "crl.pem" },
        { "CRL signed by another CA", "cannot be checked for revocation" },
        { "garbage crl.pem written by hand", "no PEM 'X509 CRL' block found" },
        { "crl.pem written by hand with a CRL in the intermediate's name signed by another key", "signature does not verify" },
    };

    /// <summary>A CRL that names <paramref name="issuer"/> (name and key identifier) but is signed by another key.</summary>
    private static string ForgedCrlOf(X509Certificate2 issuer, DateTimeOffset now)
    {
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var der = new CertificateRevocationListBuilder().Build(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(otherKey), 999, now.AddHours(1),
            HashAlgorithmName.SHA256, X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false), now);
        return PemEncoding.WriteString("X509 CRL", der) + "\n";
    }

    [Theory]
    [MemberData(nameof(Damages))]
    public async Task A_bad_new_set_is_refused_and_the_old_one_keeps_serving_without_a_failed_request(string damage, string reason)
    {
        await using var scenario = await Scenario.StartAsync();
        var otherKey = new CredentialDirectory(scenario.IssueClient("inventory")).Read().KeyPem;
        using var otherPki = new TestPki();
        var foreignCrl = File.ReadAllText(otherPki.Authority.Layout.CrlFile(otherPki.Init.Intermediate.Serial));
        using var intermediate = CertificateForge.Intermediate(scenario.Pki);
        var forgedCrl = ForgedCrlOf(intermediate, scenario.Pki.Time.GetUtcNow()) + File.ReadAllText(scenario.Pki.Authority.Layout.CrlFile(scenario.Pki.Init.Root.Serial));
        await using var client = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment");
        using var refusals = new MetricCollector<long>(scenario.Server.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            MtlsTelemetry.MeterName, "mtls.certificate.reload_failures");
        var serving = scenario.Server.Store.Current.Leaf.SerialNumber;
        // By hand: the file the service reads, overwritten in place (through the directory's link), no new generation.
        var crlByHand = Path.Combine(scenario.ServerDirectory, "crl.pem");

        await using (var load = new LoadLoop(("pooled", client.Pooled), ("fresh", client.Fresh)))
        {
            await load.AdvanceAsync(20);
            switch (damage)
            {
                case "garbage crl.pem written by hand":
                    File.WriteAllText(crlByHand, "this is not a CRL\n");
                    break;
                case "crl.pem written by hand with a CRL in the intermediate's name signed by another key":
                    File.WriteAllText(crlByHand, forgedCrl);
                    break;
                default:
                    PublishDamaged(scenario, files => damage switch
                    {
                        "half-written certificate" => files with { CertificatePem = files.CertificatePem[..(files.CertificatePem.Length / 3)] },
                        "key of another service" => files with { KeyPem = otherKey },
                        "corrupt CRL" => files with { CrlPem = files.CrlPem.Replace("MII", "MIX", StringComparison.Ordinal) },
                        _ => files with { CrlPem = foreignCrl },
                    });
                    break;
            }

            await Eventually.True(() => refusals.GetMeasurementSnapshot().Count > 0, "the server refused the new set");
            await Eventually.True(() => scenario.Server.Logs.GetSnapshot().Any(r => r.Message.Contains("refused the new credential files", StringComparison.Ordinal)
                && r.Message.Contains(reason, StringComparison.Ordinal)), $"the refusal is logged with its reason ({reason})");
            await load.AdvanceAsync(40);

            Assert.Empty(load.Failures);
        }

        Assert.Equal(serving, scenario.Server.Store.Current.Leaf.SerialNumber);
        Assert.Contains(scenario.Server.Logs.GetSnapshot(), r => r.Level == LogLevel.Warning
            && r.Message.Contains("refused the new credential files", StringComparison.Ordinal)
            && r.Message.Contains($"Still serving serial {serving}", StringComparison.Ordinal));
        Assert.DoesNotContain(scenario.Server.Logs.GetSnapshot(), r => r.Message.Contains("PRIVATE KEY", StringComparison.Ordinal));

        // A good set afterwards is taken.
        var renewed = scenario.Pki.Authority.Renew("payment");
        await Eventually.True(() => scenario.Server.Store.Current.Leaf.SerialNumber == renewed.Entry.Serial, "the next good set is swapped in");
    }

    [Fact]
    public async Task A_service_whose_credentials_are_unusable_fails_at_start_naming_the_setting_and_the_file()
    {
        using var pki = new TestPki();
        var directory = pki.Authority.Issue(new LeafRequest("payment")).Directory;
        File.WriteAllText(Path.Combine(new CredentialDirectory(directory).ResolveCurrentGeneration(), "tls.key"),
            new CredentialDirectory(pki.Authority.Issue(new LeafRequest("order")).Directory).Read().KeyPem);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => MtlsTestServer.StartAsync(directory, Scenario.MapEndpoints));

        Assert.Contains("Mtls:CredentialsDirectory", error.Message, StringComparison.Ordinal);
        Assert.Contains("tls.key does not match", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_credentials_directory_fails_at_start_naming_the_setting()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => MtlsTestServer.StartAsync("/nonexistent/credentials", Scenario.MapEndpoints));

        Assert.Contains("Mtls:CredentialsDirectory '/nonexistent/credentials' does not exist", error.Message, StringComparison.Ordinal);
    }
}
