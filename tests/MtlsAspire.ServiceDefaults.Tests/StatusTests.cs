using System.Net;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Status;
using MtlsAspire.Verification.Storage;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary><c>GET /mtls/status</c> on the management port: what a service has loaded, for whoever rotates its credentials.</summary>
public class StatusTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(HttpClient client, Uri uri)
    {
        using var response = await client.GetAsync(uri);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_management_port_reports_the_generation_in_use_leaf_bundle_crls_and_expiry_without_key_material()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scenario = await Scenario.StartAsync(serverTime: clock);
        using var plain = new HttpClient();
        using var files = ServiceCredentials.Load(new CredentialDirectory(scenario.ServerDirectory));

        var (code, body) = await GetAsync(plain, new Uri(scenario.Server.Http, CredentialStatus.Path));

        output.WriteLine(body);
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.DoesNotContain("PRIVATE KEY", body, StringComparison.Ordinal);
        Assert.Contains("\"spiffeId\":", body, StringComparison.Ordinal); // camelCase, as CredentialStatus.Json reads it
        var status = CredentialStatus.Parse(body);
        Assert.Equal("spiffe://mtls-aspire.local/ns/development/sa/payment", status.SpiffeId);
        Assert.Equal(1, status.Generation);
        Assert.Equal(clock.GetUtcNow(), status.LoadedAt);
        Assert.Equal(files.Leaf.SerialNumber, status.Leaf.Serial);
        Assert.Equal(files.Leaf.NotAfter.ToUniversalTime(), status.Leaf.NotAfter.UtcDateTime);
        Assert.Equal(files.Leaf.NotBefore.ToUniversalTime(), status.Leaf.NotBefore.UtcDateTime);
        Assert.Equal(files.Intermediates[0].Subject, status.Leaf.Issuer);
        Assert.Equal(files.Intermediates[0].SerialNumber, status.Leaf.IssuerSerial);
        var bundle = BundleStatus.Of(files.TrustedRoots);
        Assert.Equal(bundle.Fingerprint, status.Bundle.Fingerprint);
        Assert.Equal(bundle.Roots, status.Bundle.Roots);
        Assert.True(status.Trusts(scenario.Pki.Init.Root.Serial));
        // One CRL per CA: the intermediate's and the root's.
        Assert.Equal(2, status.Crls.Count);
        Assert.Contains(status.Crls, c => c.Issuer == files.Intermediates[0].Subject && c.Revoked == 0 && c.NextUpdate > c.ThisUpdate && c.Number is not null);
        Assert.Contains(status.Crls, c => c.Issuer == files.TrustedRoots[0].Subject);
        Assert.Equal(ExpiryState.Ok, status.Expiry.State);
        Assert.Contains("notAfter", status.Expiry.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task After_a_revocation_and_a_renewal_the_status_reports_the_new_generation_and_crl()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scenario = await Scenario.StartAsync(serverTime: clock);
        using var plain = new HttpClient();
        var statusUri = new Uri(scenario.Server.Http, CredentialStatus.Path);
        var before = CredentialStatus.Parse((await GetAsync(plain, statusUri)).Body);
        scenario.IssueClient("order");

        clock.Advance(TimeSpan.FromMinutes(3));
        var generation = scenario.Server.Store.Current.Generation;
        scenario.Pki.Authority.RevokeService("order");
        await Eventually.True(() => scenario.Server.Store.Current.Generation > generation, "the server loaded the new crl.pem");
        var renewed = scenario.Pki.Authority.Renew("payment");
        await Eventually.True(() => scenario.Server.Store.Current.Leaf.SerialNumber == renewed.Entry.Serial, "the server swapped in its renewed leaf");

        var after = CredentialStatus.Parse((await GetAsync(plain, statusUri)).Body);
        Assert.Equal(scenario.Server.Store.Current.Generation, after.Generation);
        Assert.True(after.Generation >= before.Generation + 2);
        Assert.Equal(clock.GetUtcNow(), after.LoadedAt);
        Assert.Equal(renewed.Entry.Serial, after.Leaf.Serial);
        Assert.Equal(before.Bundle.Fingerprint, after.Bundle.Fingerprint);
        var intermediateCrl = Assert.Single(after.Crls, c => c.Issuer == after.Leaf.Issuer);
        Assert.Equal(1, intermediateCrl.Revoked);
        Assert.True(System.Numerics.BigInteger.Parse(intermediateCrl.Number!, System.Globalization.CultureInfo.InvariantCulture)
            > System.Numerics.BigInteger.Parse(before.Crls.Single(c => c.Issuer == before.Leaf.Issuer).Number!, System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task The_status_is_served_only_on_the_management_port_and_the_api_never_there()
    {
        await using var scenario = await Scenario.StartAsync();
        using var plain = new HttpClient();
        using var mtls = scenario.RawClientFor(scenario.IssueClient("order"));

        Assert.Equal(HttpStatusCode.OK, (await GetAsync(plain, new Uri(scenario.Server.Http, CredentialStatus.Path))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(mtls, new Uri(scenario.Server.Https, CredentialStatus.Path))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(plain, new Uri(scenario.Server.Http, "/api/whoami"))).Status);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(mtls, new Uri(scenario.Server.Https, "/api/whoami"))).Status);
    }
}
