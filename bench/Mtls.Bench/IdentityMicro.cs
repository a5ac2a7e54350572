using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Storage;
using MtlsAspire.ServiceDefaults;
using MtlsAspire.ServiceDefaults.Authorization;
using MtlsAspire.ServiceDefaults.Mtls;

namespace MtlsAspire.Mtls.Bench;

/// <summary>
/// In-process micro-measurements of the per-connection and per-request identity work of the mTLS server, on the
/// services of a (not started) WebApplication configured exactly as the server child: AddServiceDefaults + AddMtlsServer.
/// </summary>
internal static class IdentityMicro
{
    public static async Task<IReadOnlyList<MicroResult>> RunAsync(BenchPki pki, int iterations)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], EnvironmentName = "Production" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Mtls:CredentialsDirectory"] = pki.ServerDirectory });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddServiceDefaults();
        builder.AddMtlsServer();
        await using var app = builder.Build();
        var services = app.Services;
        var store = services.GetRequiredService<MtlsCredentialStore>();
        using var serverFiles = ServiceCredentials.Load(new CredentialDirectory(pki.ServerDirectory));

        // What the server holds for a client connection: a certificate without key, parsed from the DER the peer sent.
        var raw = pki.Client.Leaf.RawData;
        using var peerLeaf = X509CertificateLoader.LoadCertificate(raw);
        X509Certificate2[] sent = [.. pki.Client.Intermediates];

        var results = new List<MicroResult>();
        var now = DateTimeOffset.UtcNow;

        results.Add(Measure("X509CertificateLoader.LoadCertificate(client DER)", iterations, () =>
        {
            using var c = X509CertificateLoader.LoadCertificate(raw);
        }));
        results.Add(Measure("X509CertificateLoader.LoadCertificate(client DER) + Thumbprint", iterations, () =>
        {
            using var c = X509CertificateLoader.LoadCertificate(raw);
            _ = c.Thumbprint;
        }));
        results.Add(Measure("ChainCheck.Verify client chain + CRL (validation cache miss)", Math.Max(1, iterations / 10), () =>
        {
            var check = ChainCheck.Verify(peerLeaf, sent, serverFiles.TrustedRoots, serverFiles.Revocation, now, CertificateFacts.ClientAuthOid);
            if (!check.IsValid)
            {
                throw new InvalidOperationException(string.Join("; ", check.Problems));
            }
        }));
        var credentials = store.Current;
        results.Add(Measure("MtlsCredentials.Validate, fresh cert object (cache hit)", iterations, () =>
        {
            using var c = X509CertificateLoader.LoadCertificate(raw);
            if (!credentials.Validate(new PeerCertificate(c, sent, "bench"), PeerSide.Server, now).Accepted)
            {
                throw new InvalidOperationException("The client was not accepted.");
            }
        }));
        results.Add(Measure("certificate.GetSpiffeId (URI SAN parse)", iterations, () => _ = peerLeaf.GetSpiffeId(out _)));

        var endpoint = new RouteEndpoint(_ => Task.CompletedTask, RoutePatternFactory.Parse(ServerMode.PingPath), 0,
            new EndpointMetadataCollection(new AllowedCallers(["order"])), "ping");
        var policy = await services.GetRequiredService<IAuthorizationPolicyProvider>().GetPolicyAsync(MtlsAuthenticationDefaults.CallerPolicy).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The caller policy is not registered.");
        var evaluator = services.GetRequiredService<IPolicyEvaluator>();
        var scopes = services.GetRequiredService<IServiceScopeFactory>();

        HttpContext NewContext(AsyncServiceScope scope)
        {
            var context = new DefaultHttpContext { RequestServices = scope.ServiceProvider };
            context.Connection.ClientCertificate = peerLeaf;
            context.Request.Method = HttpMethods.Get;
            context.Request.Path = ServerMode.PingPath;
            context.SetEndpoint(endpoint);
            return context;
        }

        results.Add(await MeasureAsync("baseline: request scope + HttpContext", iterations, async () =>
        {
            await using var scope = scopes.CreateAsyncScope();
            _ = NewContext(scope);
        }).ConfigureAwait(false));
        results.Add(await MeasureAsync("authentication (SPIFFE handler), incl. baseline", iterations, async () =>
        {
            await using var scope = scopes.CreateAsyncScope();
            var context = NewContext(scope);
            var result = await context.AuthenticateAsync(MtlsAuthenticationDefaults.Scheme).ConfigureAwait(false);
            if (!result.Succeeded)
            {
                throw new InvalidOperationException("Authentication failed.");
            }
        }).ConfigureAwait(false));
        results.Add(await MeasureAsync("authentication + RequireCaller authorization, incl. baseline", iterations, async () =>
        {
            await using var scope = scopes.CreateAsyncScope();
            var context = NewContext(scope);
            var authenticated = await evaluator.AuthenticateAsync(policy, context).ConfigureAwait(false);
            var authorized = await evaluator.AuthorizeAsync(policy, authenticated, context, context).ConfigureAwait(false);
            if (!authorized.Succeeded)
            {
                throw new InvalidOperationException("Authorization failed.");
            }
        }).ConfigureAwait(false));
        return results;
    }

    private static MicroResult Measure(string name, int iterations, Action body)
    {
        for (var i = 0; i < Math.Min(iterations, 2_000); i++)
        {
            body();
        }

        var cpu0 = ProcStat.ProcessCpu(Environment.ProcessId);
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++)
        {
            body();
        }

        return new MicroResult(name, iterations, stopwatch.Elapsed, ProcStat.ProcessCpu(Environment.ProcessId) - cpu0);
    }

    private static async Task<MicroResult> MeasureAsync(string name, int iterations, Func<Task> body)
    {
        for (var i = 0; i < Math.Min(iterations, 2_000); i++)
        {
            await body().ConfigureAwait(false);
        }

        var cpu0 = ProcStat.ProcessCpu(Environment.ProcessId);
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++)
        {
            await body().ConfigureAwait(false);
        }

        return new MicroResult(name, iterations, stopwatch.Elapsed, ProcStat.ProcessCpu(Environment.ProcessId) - cpu0);
    }
}

/// <summary>One in-process micro-measurement: wall time per operation (single thread) and process CPU per operation.</summary>
internal sealed record MicroResult(string Name, int Iterations, TimeSpan Elapsed, TimeSpan Cpu)
{
    public double MicrosecondsPerOp => Elapsed.TotalMicroseconds / Iterations;

    public double CpuMicrosecondsPerOp => Cpu.TotalMicroseconds / Iterations;
}
