using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.EndToEnd.Tests.Infrastructure;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>The dashboard's commands, run through <c>app.ResourceCommands</c>, and what they change.</summary>
[Collection(ShopGroup.Name)]
public class CommandTests(ShopFixture shop)
{
    private TestApp App => shop.App;

    private const string Serial = "mtls.certificate.serial";

    [Fact]
    public async Task Renew_certificate_gives_the_service_a_new_serial_that_it_serves_and_shows()
    {
        var before = App.Property("payment", Serial);
        Assert.False(string.IsNullOrEmpty(before));

        var result = await App.App.ResourceCommands.ExecuteCommandAsync("payment", "renew-certificate");

        Assert.True(result.Success, result.Message);
        var now = App.Pki.Lifecycle!.Authority.Ledger.ActiveLeaf("payment")!.Serial;
        Assert.NotEqual(before, now);
        await Eventually.Until(() => App.Property("payment", Serial) == now, "payment's serial property updated");
        await Eventually.Until(async () => await App.ServedCertificateSerialAsync("payment", "order") == now, "payment serving its new certificate");
    }

    [Fact]
    public async Task Revoke_certificate_makes_every_peer_refuse_the_old_one_and_the_service_recovers_with_a_new_key()
    {
        var directory = App.Pki.CredentialsDirectory("inventory");
        using var old = ServiceCredentials.Load(new CredentialDirectory(directory));
        var oldSerial = old.Leaf.SerialNumber;

        var result = await App.App.ResourceCommands.ExecuteCommandAsync("inventory", "revoke-certificate");

        Assert.True(result.Success, result.Message);
        // The old certificate, presented to a peer: refused in the handshake as revoked (before any caller rule is looked at).
        using var asOldInventory = App.CreateHttpClient("order", old.Leaf, old.Intermediates);
        await Eventually.Until(async () =>
        {
            try
            {
                using var response = await asOldInventory.GetAsync("/api/orders/none");
                return false;
            }
            catch (HttpRequestException)
            {
                return true;
            }
        }, "order refusing inventory's revoked certificate");
        await App.WaitForLogAsync("order", l => l.Contains(": revoked.", StringComparison.Ordinal) && l.Contains(oldSerial, StringComparison.Ordinal));

        var replacement = App.Pki.Lifecycle!.Authority.Ledger.ActiveLeaf("inventory")!.Serial;
        Assert.NotEqual(oldSerial, replacement);
        await Eventually.Until(async () => await App.ServedCertificateSerialAsync("inventory", "order") == replacement, "inventory serving its new certificate");
        using var shopper = App.CreateHttpClient("order", asIdentity: "shopper");
        await Eventually.Until(async () =>
        {
            using var response = await shopper.PostAsJsonAsync("/api/orders", new { sku = "coffee", quantity = 1, amount = 5m });
            return response.StatusCode == HttpStatusCode.Created;
        }, "orders flowing again (order → inventory with the new certificate)");
    }

    [Fact]
    public async Task Publish_crls_and_rotate_intermediate_change_the_pki_properties()
    {
        var crl = long.Parse(App.Property("pki", "pki.crl.number")!, System.Globalization.CultureInfo.InvariantCulture);
        var intermediate = App.Property("pki", "pki.intermediate.serial");

        var published = await App.App.ResourceCommands.ExecuteCommandAsync("pki", "publish-crls");
        Assert.True(published.Success, published.Message);
        await Eventually.Until(() => long.Parse(App.Property("pki", "pki.crl.number")!, System.Globalization.CultureInfo.InvariantCulture) > crl, "a higher CRL number shown");

        var rotated = await App.App.ResourceCommands.ExecuteCommandAsync("pki", "rotate-intermediate");
        Assert.True(rotated.Success, rotated.Message);
        await Eventually.Until(() => App.Property("pki", "pki.intermediate.serial") != intermediate, "the new intermediate shown");
        await App.WaitForLogAsync("pki", l => l.Contains("intermediate CA rotated", StringComparison.Ordinal));
        // The renewal loop moves every leaf to it within seconds (and the next test starts from settled certificates).
        var active = App.Pki.Lifecycle!.Authority.Ledger.Find(CertificateKind.Intermediate, CertificateStatus.Active)[^1].Serial;
        await App.UntilEveryServiceAsync("a leaf under the new intermediate", s => s.Leaf.IssuerSerial == active);
        await App.WaitForLogAsync("pki", l => l.Contains("moved to the intermediate", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_reload_a_service_refuses_shows_in_the_pki_timeline_and_the_service_keeps_serving()
    {
        var serving = await App.ServedCertificateSerialAsync("payment", "order");
        var otherKey = new CredentialDirectory(App.Pki.CredentialsDirectory("inventory")).Read().KeyPem;

        // A generation whose key does not match its certificate (a botched manual copy).
        new CredentialDirectory(App.Pki.CredentialsDirectory("payment")).Update(files => files with { KeyPem = otherKey }, DateTimeOffset.UtcNow);

        await App.WaitForLogAsync("payment", l => l.Contains("refused the new credential files", StringComparison.Ordinal));
        await App.WaitForLogAsync("pki", l => l.Contains("payment refused a reload", StringComparison.Ordinal));
        Assert.Equal(serving, await App.ServedCertificateSerialAsync("payment", "order"));

        var renewed = await App.App.ResourceCommands.ExecuteCommandAsync("payment", "renew-certificate");
        Assert.True(renewed.Success, renewed.Message);
        var now = App.Pki.Lifecycle!.Authority.Ledger.ActiveLeaf("payment")!.Serial;
        await Eventually.Until(async () => await App.ServedCertificateSerialAsync("payment", "order") == now, "payment serving a good new certificate");
    }

    [Fact]
    public async Task A_command_that_cannot_be_carried_out_fails_with_the_reason_and_changes_nothing()
    {
        var authority = App.Pki.Lifecycle!.Authority;
        var root = authority.Ledger.Find(CertificateKind.Root, CertificateStatus.Active)[^1];
        var passphrase = PkiLayout.PassphraseIn(authority.Layout.RootDirectory(root.Serial));
        var intermediate = App.Property("pki", "pki.intermediate.serial");
        var entries = authority.Ledger.All().Count;
        File.Move(passphrase, passphrase + ".away"); // the root key cannot be unlocked
        ExecuteCommandResult result;
        try
        {
            result = await App.App.ResourceCommands.ExecuteCommandAsync("pki", "rotate-intermediate");
        }
        finally
        {
            File.Move(passphrase + ".away", passphrase);
        }

        Assert.False(result.Success);
        Assert.Contains("passphrase", result.Message, StringComparison.Ordinal);
        Assert.Equal(intermediate, App.Property("pki", "pki.intermediate.serial"));
        Assert.Equal(entries, authority.Ledger.All().Count);
    }

    [Fact]
    public async Task Renewing_every_leaf_while_orders_flow_fails_no_request()
    {
        var failures = new ConcurrentQueue<string>();
        var placed = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        using var shopper = App.CreateHttpClient("order", asIdentity: "shopper");
        var loop = Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await shopper.PostAsJsonAsync("/api/orders", new { sku = "coffee", quantity = 1, amount = 10m }, stop.Token);
                    if (response.StatusCode != HttpStatusCode.Created)
                    {
                        failures.Enqueue($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                    }

                    Interlocked.Increment(ref placed);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    failures.Enqueue(e.Message);
                }
            }
        })));

        await Eventually.Until(() => Volatile.Read(ref placed) >= 10, "orders flowing");
        foreach (var service in new[] { "inventory", "payment", "legacy-proxy", "order" })
        {
            var result = await App.App.ResourceCommands.ExecuteCommandAsync(service, "renew-certificate");
            Assert.True(result.Success, result.Message);
            var renewed = App.Pki.Lifecycle!.Authority.Ledger.ActiveLeaf(service)!.Serial;
            await Eventually.Until(async () => await App.ServedCertificateSerialAsync(service, "shopper") == renewed, $"{service} serving its renewed certificate");
        }

        var after = Volatile.Read(ref placed);
        await Eventually.Until(() => Volatile.Read(ref placed) >= after + 20, "orders flowing after the renewals");
        await stop.CancelAsync();
        await loop;

        Assert.Empty(failures);
    }
}
