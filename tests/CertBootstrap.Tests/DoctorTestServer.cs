using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Tests;

/// <summary>How a <see cref="DoctorTestServer"/> behaves.</summary>
public sealed record DoctorServerSetup
{
    public SslProtocols Protocols { get; init; } = SslProtocols.Tls12 | SslProtocols.Tls13;

    public bool RequireClientCertificate { get; init; } = true;

    /// <summary>False: the server sends only its leaf.</summary>
    public bool SendChain { get; init; } = true;

    /// <summary>True: the CertificateRequest names the bundle's roots as acceptable issuers.</summary>
    public bool SendAcceptableIssuers { get; init; }

    public Action<WebApplication>? Map { get; init; }
}

/// <summary>
/// A real Kestrel on 127.0.0.1 port 0 serving the credentials of one directory, configured minimally in the test: the
/// chain sent per connection (TlsHandshakeCallbackOptions), client certificates judged with ChainCheck against the
/// directory's ca.crt and crl.pem on the real clock, with only what the client sent (no intermediates of its own).
/// </summary>
public sealed class DoctorTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ServiceCredentials _credentials;

    private DoctorTestServer(WebApplication app, ServiceCredentials credentials)
    {
        _app = app;
        _credentials = credentials;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        Port = new Uri(address).Port;
    }

    public int Port { get; }

    public Uri Url(string path = "/") => new($"https://localhost:{Port}{path}");

    public static async Task<DoctorTestServer> StartAsync(string credentialsDirectory, DoctorServerSetup? setup = null)
    {
        setup ??= new DoctorServerSetup();
        var credentials = ServiceCredentials.Load(new CredentialDirectory(credentialsDirectory));
        var trust = setup.SendAcceptableIssuers ? SslCertificateTrust.CreateForX509Collection(credentials.TrustedRoots, sendTrustInHandshake: true) : null;
        var context = SslStreamCertificateContext.Create(credentials.Leaf, setup.SendChain ? credentials.Intermediates : [], offline: true, trust);
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = context,
            EnabledSslProtocols = setup.Protocols,
            ClientCertificateRequired = setup.RequireClientCertificate,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
            AllowTlsResume = false,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, chain, _) => certificate is null
                ? !setup.RequireClientCertificate
                : ChainCheck.Verify(X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()), chain?.ChainPolicy.ExtraStore ?? [],
                    credentials.TrustedRoots, credentials.Revocation, DateTimeOffset.UtcNow, CertificateFacts.ClientAuthOid).IsValid,
        };

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen =>
        {
            listen.Protocols = HttpProtocols.Http1;
            listen.UseHttps(new TlsHandshakeCallbackOptions { OnConnection = _ => ValueTask.FromResult(options) });
        }));
        var app = builder.Build();
        setup.Map?.Invoke(app);
        await app.StartAsync();
        return new DoctorTestServer(app, credentials);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _credentials.Dispose();
    }
}
