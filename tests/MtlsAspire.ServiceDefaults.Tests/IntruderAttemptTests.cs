using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Tests;
using MtlsAspire.Intruder;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>The intruder's client for one attempt (services/Intruder/AttemptClient.cs) against a real mTLS server.</summary>
public class IntruderAttemptTests
{
    [Theory]
    [InlineData("a certificate from another CA")]
    [InlineData("no certificate")]
    public async Task One_intruder_attempt_is_one_handshake_so_the_server_counts_one_refusal(string presenting)
    {
        await using var scenario = await Scenario.StartAsync();
        using var rogue = new TestPki();
        using var presented = presenting == "no certificate"
            ? null
            : ServiceCredentials.Load(new CredentialDirectory(rogue.Authority.Issue(new LeafRequest("order")).Directory));
        using var failures = new MetricCollector<long>(scenario.Server.App.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            MtlsTelemetry.MeterName, "mtls.handshake.failures");
        var roots = scenario.TrustedRoots;
        using var client = AttemptClient.Create(presented, (_, server, chain, _) => server is X509Certificate2 leaf
            && ChainCheck.Verify(leaf, chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>() ?? [], roots, RevocationSet.Empty, DateTimeOffset.UtcNow,
                CertificateFacts.ServerAuthOid).IsValid);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(new Uri(scenario.Server.Https, "/api/whoami")));

        // The server counts a refusal before it closes the connection, so every handshake of the attempt is counted by now.
        await Eventually.True(() => failures.GetMeasurementSnapshot().Count > 0, "the refusal counted");
        Assert.Equal(1, failures.GetMeasurementSnapshot().Sum(m => m.Value));
    }
}
