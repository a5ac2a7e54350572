using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MtlsAspire.Mtls.Bench;

/// <summary>
/// The yardstick: a Kestrel that does mutual TLS and nothing else (<c>server --bare</c>). <c>CreateSlimBuilder</c>,
/// no logging, one <c>Listen</c> with <c>RequireCertificate</c> and a chain check (custom root trust from
/// <c>ca.crt</c>, the clientAuth EKU, no revocation), one minimal-API endpoint answering the bytes of a file with
/// their Content-Length. What our service costs above this server is ours, not the platform's.
/// </summary>
internal static class BareServerMode
{
    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        string? credentials = null, portFile = null, bodyFile = null, path = null;
        var contentType = "application/json; charset=utf-8";
        var chainInCallback = false;
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            switch (name)
            {
                case "--bare": break;
                case "--credentials": credentials = Value(); break;
                case "--port-file": portFile = Value(); break;
                case "--body": bodyFile = Value(); break;
                case "--path": path = Value(); break;
                case "--content-type": contentType = Value(); break;
                case "--chain-in-callback": chainInCallback = true; break;
                default: throw new ArgumentException($"server --bare: unknown argument '{name}'.");
            }
        }

        if (credentials is null || portFile is null || bodyFile is null || path is null)
        {
            throw new ArgumentException("server --bare needs --credentials DIR (tls.crt, tls.key, ca.crt), --port-file FILE, --body FILE and --path /PATH.");
        }

        var body = await File.ReadAllBytesAsync(bodyFile).ConfigureAwait(false);
        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(Path.Combine(credentials, "tls.crt"));
        using var leaf = X509Certificate2.CreateFromPemFile(Path.Combine(credentials, "tls.crt"), Path.Combine(credentials, "tls.key"));
        var intermediates = new X509Certificate2Collection(chain.Skip(1).ToArray());
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(Path.Combine(credentials, "ca.crt"));
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        policy.CustomTrustStore.AddRange(roots);
        policy.ApplicationPolicy.Add(new Oid(ClientAuthOid));

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(https =>
        {
            https.ServerCertificate = leaf;
            https.ServerCertificateChain = intermediates;
            https.SslProtocols = SslProtocols.Tls13;
            https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            if (chainInCallback)
            {
                // The check as often written: SslStream's own build (system roots) fails, the callback builds again.
                https.ClientCertificateValidation = (certificate, presented, _) =>
                {
                    using var check = new X509Chain { ChainPolicy = policy.Clone() };
                    check.ChainPolicy.ExtraStore.AddRange(presented!.ChainElements.Skip(1).Select(e => e.Certificate).ToArray());
                    return check.Build(certificate);
                };
            }
            else
            {
                // One chain build: SslStream builds the client's chain under this policy (custom root, clientAuth), and
                // the callback accepts only a chain without errors.
                https.OnAuthenticate = (_, options) => options.CertificateChainPolicy = policy;
                https.ClientCertificateValidation = (_, _, errors) => errors == SslPolicyErrors.None;
            }
        })));

        await using var app = builder.Build();
        app.MapGet(path, () => Results.Bytes(body, contentType));
        await app.StartAsync().ConfigureAwait(false);

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        var temporary = portFile + ".tmp";
        await File.WriteAllTextAsync(temporary, string.Create(CultureInfo.InvariantCulture,
            $"https={new Uri(address).Port}\npid={Environment.ProcessId}\n")).ConfigureAwait(false);
        File.Move(temporary, portFile, overwrite: true);

        await ServerMode.WaitForParentAsync(app).ConfigureAwait(false);
        return 0;
    }
}
