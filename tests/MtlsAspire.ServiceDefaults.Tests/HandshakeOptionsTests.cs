using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// The server's handshake options are built once per credential generation and shared by its handshakes; a new
/// generation (a rotated leaf, a new CRL) gets new ones, so what changed applies to the next handshake.
/// </summary>
public class HandshakeOptionsTests
{
    private static ServerHandshakeOptions HandshakeOf(Scenario scenario) => new(scenario.Server.Store,
        scenario.Server.App.Services.GetRequiredService<IOptions<MtlsOptions>>().Value,
        scenario.Server.App.Services.GetRequiredService<MtlsTelemetry>(), NullLogger.Instance);

    /// <summary>Runs the options' validation callback on <paramref name="clientDirectory"/>'s chain, as SslStream would.</summary>
    private static bool Accepts(SslServerAuthenticationOptions options, string clientDirectory)
    {
        using var client = ServiceCredentials.Load(new CredentialDirectory(clientDirectory));
        using var chain = new X509Chain();
        chain.ChainPolicy.ExtraStore.AddRange(client.Intermediates);
        return options.RemoteCertificateValidationCallback!(new object(), client.Leaf, chain, SslPolicyErrors.None);
    }

    [Fact]
    public async Task The_options_are_shared_within_a_generation_and_replaced_with_the_new_leaf_when_it_rotates()
    {
        await using var scenario = await Scenario.StartAsync();
        var handshake = HandshakeOf(scenario);
        var first = handshake.OptionsFor(scenario.Server.Store.Current);
        Assert.Same(first, handshake.OptionsFor(scenario.Server.Store.Current));

        var renewed = scenario.Pki.Authority.Renew("payment");
        await Eventually.True(() => scenario.Server.Store.Current.Leaf.SerialNumber == renewed.Entry.Serial, "the server swapped in its new certificate");

        var second = handshake.OptionsFor(scenario.Server.Store.Current);
        Assert.NotSame(first, second);
        Assert.Equal(renewed.Entry.Serial, second.ServerCertificateContext!.TargetCertificate.SerialNumber);
        Assert.True(second.ClientCertificateRequired);
        Assert.Equal(X509ChainTrustMode.CustomRootTrust, second.CertificateChainPolicy!.TrustMode);
    }

    [Fact]
    public async Task A_client_revoked_after_the_options_were_built_is_refused_by_the_next_handshake()
    {
        await using var scenario = await Scenario.StartAsync();
        var client = scenario.PlainCopyOf(scenario.IssueClient("order"));
        var handshake = HandshakeOf(scenario);
        Assert.True(Accepts(handshake.OptionsFor(scenario.Server.Store.Current), client));

        var generation = scenario.Server.Store.Current.Generation;
        scenario.Pki.Authority.RevokeService("order", X509RevocationReason.KeyCompromise);
        await Eventually.True(() => scenario.Server.Store.Current.Generation > generation, "the server loaded the new crl.pem");

        Assert.False(Accepts(handshake.OptionsFor(scenario.Server.Store.Current), client));
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("false", false)]
    public async Task Tls_resumption_is_on_unless_turned_off(string? setting, bool allowed)
    {
        await using var scenario = await Scenario.StartAsync(settings: setting is null ? null : new Dictionary<string, string?> { ["Mtls:AllowTlsResumption"] = setting });
        Assert.Equal(allowed, HandshakeOf(scenario).OptionsFor(scenario.Server.Store.Current).AllowTlsResume);
    }
}
