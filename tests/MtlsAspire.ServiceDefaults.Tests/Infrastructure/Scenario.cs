using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Storage;
using MtlsAspire.CertBootstrap.Tests;
using MtlsAspire.ServiceDefaults.Authorization;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>A PKI with a "payment" server and its endpoints; clients are issued per test.</summary>
public sealed class Scenario : IAsyncDisposable
{
    private Scenario(TestPki pki, MtlsTestServer server)
    {
        Pki = pki;
        Server = server;
    }

    public TestPki Pki { get; }

    public MtlsTestServer Server { get; }

    public string ServerDirectory => Pki.Authority.Layout.ServiceDirectory("payment");

    public X509Certificate2Collection TrustedRoots =>
        new(Pem.ReadCertificates(File.ReadAllText(Pki.Authority.Layout.BundleFile), "ca.crt").ToArray());

    public static async Task<Scenario> StartAsync(TimeProvider? serverTime = null, IDictionary<string, string?>? settings = null, string serverService = "payment",
        TimeSpan? serverLifetime = null, string environment = "Development", Action<Microsoft.Extensions.Hosting.IHostApplicationBuilder>? configure = null)
    {
        var pki = new TestPki();
        pki.Authority.Issue(new LeafRequest(serverService) { DnsNames = ["localhost"], IPAddresses = [System.Net.IPAddress.Loopback], Lifetime = serverLifetime });
        var server = await MtlsTestServer.StartAsync(pki.Authority.Layout.ServiceDirectory(serverService), MapEndpoints, serverTime, settings, environment, configure);
        return new Scenario(pki, server);
    }

    /// <summary>A scenario whose server, on <paramref name="clock"/>, logs the first 3 refusals of a kind per 10 s window in full (Mtls:RefusalLogs).</summary>
    public static Task<Scenario> StartWithRefusalWindowAsync(TimeProvider clock) => StartAsync(serverTime: clock, settings: new Dictionary<string, string?>
    {
        ["Mtls:RefusalLogs:PerWindow"] = "3",
        ["Mtls:RefusalLogs:Window"] = "00:00:10",
    });

    /// <summary>The endpoints: the caller rule sits next to each route.</summary>
    public static void MapEndpoints(WebApplication app)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/whoami", Whoami).RequireCaller("order", "inventory");
        api.MapGet("/charges", Whoami).RequireCaller("order");
        api.MapGet("/ledger", Whoami).RequireCallersFromRule("ledger-writers");
        api.MapGet("/referenced", Whoami).RequireReferencingCallers();
        api.MapGet("/open", Whoami); // no caller rule: the fallback policy applies
        api.Map("/proxy/{**rest}", Whoami).RequireCaller("order"); // every method, as a reverse proxy's route
    }

    private static Microsoft.AspNetCore.Http.HttpResults.Ok<Caller> Whoami(HttpContext context) => TypedResults.Ok(new Caller(
        context.User.GetSpiffeId().ToString(),
        context.Connection.ClientCertificate?.SerialNumber ?? string.Empty));

    public sealed record Caller(string SpiffeId, string Serial);

    /// <summary>Issues a client leaf and returns its directory.</summary>
    public string IssueClient(string service) => Pki.Authority.Issue(new LeafRequest(service)).Directory;

    /// <summary>The current files of <paramref name="directory"/> copied to a plain directory, which no later publish touches.</summary>
    public string PlainCopyOf(string directory)
    {
        var copy = Path.Combine(Pki.Directory, Path.GetFileName(directory) + "-copy-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(copy);
        foreach (var name in CredentialFiles.FileNames)
        {
            File.Copy(Path.Combine(directory, name), Path.Combine(copy, name));
        }

        return copy;
    }

    /// <summary>Changes the server's credential files as a publisher would, and waits until the server has loaded them.</summary>
    public async Task UpdateServerFilesAsync(Func<CredentialFiles, CredentialFiles> change)
    {
        var generation = Server.Store.Current.Generation;
        new CredentialDirectory(ServerDirectory).Update(change, DateTimeOffset.UtcNow);
        await Eventually.True(() => Server.Store.Current.Generation > generation, "the server loaded its new credential files");
    }

    /// <summary>
    /// Revokes the initial intermediate (cACompromise) once the server has moved to a new one, so that its own chain
    /// survives the revocation; returns when the server has loaded the root's new CRL. Clients issued before still chain to it.
    /// </summary>
    public async Task<string> RevokeInitialIntermediateAsync()
    {
        var oldIntermediate = Pki.Init.Intermediate.Serial;
        var generation = Server.Store.Current.Generation;
        Pki.Authority.RotateIntermediate();
        await Eventually.True(() => Server.Store.Current.Generation > generation, "the server loaded the new intermediate's CRL");
        var renewed = Pki.Authority.Renew("payment");
        await Eventually.True(() => Server.Store.Current.Leaf.SerialNumber == renewed.Entry.Serial, "the server presents its leaf of the new intermediate");
        generation = Server.Store.Current.Generation;
        Pki.Authority.Revoke(oldIntermediate, X509RevocationReason.CACompromise);
        await Eventually.True(() => Server.Store.Current.Generation > generation, "the server loaded the root's new CRL");
        return oldIntermediate;
    }

    /// <summary><paramref name="files"/> whose bundle and CRLs also hold those of <paramref name="other"/> (a second PKI).</summary>
    public static CredentialFiles AlsoTrusting(CredentialFiles files, CredentialFiles other) =>
        files with { BundlePem = files.BundlePem + other.BundlePem, CrlPem = files.CrlPem + other.CrlPem };

    /// <summary>A raw client presenting the leaf in <paramref name="directory"/>.</summary>
    public HttpClient RawClientFor(string directory, System.Security.Authentication.SslProtocols protocols = System.Security.Authentication.SslProtocols.Tls13,
        Action<SocketsHttpHandler>? configure = null)
    {
        var credentials = ServiceCredentials.Load(new CredentialDirectory(directory));
        return RawTlsClient.Create(credentials.Leaf, credentials.Intermediates, TrustedRoots, protocols, configure: configure);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Pki.Dispose();
    }
}
