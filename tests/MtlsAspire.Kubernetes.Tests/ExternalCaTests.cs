using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using MtlsAspire.Kubernetes.Tests.Infrastructure;

namespace MtlsAspire.Kubernetes.Tests;

/// <summary>
/// Bring your own CA: the intermediate of our CertBootstrap PKI becomes the CA Issuer's Secret through the command the
/// publish prints (never through a manifest), the root stays offline, and the published pods run on it.
/// </summary>
public sealed partial class ExternalCaTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("k8s-external-").FullName;
    private Manifests _manifests = null!;
    private string _publishOutput = string.Empty;

    private string State => Path.Combine(_root, "state");

    private string Pki => Path.Combine(State, "pki");

    public async Task InitializeAsync()
    {
        var init = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet");
        foreach (var arg in new[] { Repository.ProgramOf("mtls-aspire/certbootstrap"), "init", "--pki", Pki, "--trust-domain", "shop.example" })
        {
            init.ArgumentList.Add(arg);
        }

        var result = await ToolProcess.RunAsync(init, TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 0, result.Everything);
        (_manifests, _publishOutput) = await Manifests.PublishWithOutputAsync(Path.Combine(_root, "k8s"),
            "--state-dir", State, "--MtlsAspire:Kubernetes:Ca", "external", "--MtlsAspire:Kubernetes:Namespace", "shop");
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task The_CA_Issuer_uses_our_intermediate_through_a_printed_command_and_no_manifest_holds_a_key()
    {
        await KubernetesTools.ValidateKustomizationAsync(_manifests.Directory);
        Assert.Equal(["mtls-ca"], _manifests.OfKind("Issuer").Select(i => i.Name));
        Assert.DoesNotContain(_manifests.OfKind("Certificate"), c => c.Spec["isCA"] is not null);
        Assert.DoesNotContain(_manifests.Objects, o => o.Kind == "Secret");
        foreach (var (name, text) in _manifests.Files)
        {
            Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
        }

        // The trust bundle is the PKI's, and the identities are in the PKI's trust domain with the namespace as environment.
        var bundle = (string)_manifests.Get("ConfigMap", "mtls-trust-bundle").Json["data"]!["ca.crt"]!;
        Assert.Equal(File.ReadAllText(Path.Combine(Pki, "ca.crt")), bundle);
        Assert.Equal("spiffe://shop.example/ns/shop/sa/order", (string?)_manifests.Get("Certificate", "order").Spec["uris"]![0]);

        var (certificate, key) = SecretCommand();
        Assert.StartsWith(Path.Combine(Pki, "intermediates"), certificate, StringComparison.Ordinal);
        using var intermediate = X509Certificate2.CreateFromPem(File.ReadAllText(certificate));
        Assert.Contains("Intermediate", intermediate.Subject, StringComparison.Ordinal);
        Assert.True(File.Exists(key));
        Assert.Contains("create configmap mtls-root-crl --from-file=crl.pem=", _publishOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_published_pods_run_on_our_intermediate_and_an_order_goes_through()
    {
        // What the printed commands do: kubectl create secret tls / create configmap --from-file.
        var (certificate, key) = SecretCommand();
        await using var cluster = await LocalCluster.InstallAsync(_manifests, Path.Combine(_root, "run"), LocalCluster.AppPods, prepare: cluster =>
        {
            cluster.CertManager.Secrets["mtls-intermediate-ca"] = new(StringComparer.Ordinal) { ["tls.crt"] = File.ReadAllText(certificate), ["tls.key"] = File.ReadAllText(key) };
            cluster.ConfigMaps["mtls-root-crl"] = new(StringComparer.Ordinal) { ["crl.pem"] = File.ReadAllText(RootCrlFile()) };
        });

        using var shopper = MtlsClient.For(cluster, "shopper-tls");
        using var response = await shopper.PostAsJsonAsync($"https://order.shop.svc:{cluster.PortOf("order", "https")}/api/orders", new { sku = "coffee", quantity = 1, amount = 2m });
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}\n{cluster.OutputOf("order", "order")}");
    }

    private (string Certificate, string Key) SecretCommand()
    {
        var match = SecretTls().Match(_publishOutput);
        Assert.True(match.Success, $"the publish printed no 'create secret tls mtls-intermediate-ca' command:\n{_publishOutput}");
        return (match.Groups["cert"].Value, match.Groups["key"].Value);
    }

    private string RootCrlFile() => RootCrl().Match(_publishOutput) is { Success: true } match ? match.Groups["file"].Value
        : throw new InvalidOperationException($"no root CRL command in:\n{_publishOutput}");

    [GeneratedRegex(@"create secret tls mtls-intermediate-ca --cert=(?<cert>\S+) --key=(?<key>\S+)")]
    private static partial Regex SecretTls();

    [GeneratedRegex(@"--from-file=crl\.pem=(?<file>\S+)")]
    private static partial Regex RootCrl();
}
