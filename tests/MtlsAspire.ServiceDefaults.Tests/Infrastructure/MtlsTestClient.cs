using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using MtlsAspire.ServiceDefaults.Mtls;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>
/// A client host as a service would have it: ServiceDefaults (service discovery, resilience) and an mTLS HttpClient
/// for the logical service <c>server</c>, resolved through <c>services__server__https__0</c>.
/// </summary>
public sealed class MtlsTestClient : IAsyncDisposable
{
    private readonly IHost _host;

    private MtlsTestClient(IHost host) => _host = host;

    public MtlsCredentialStore Store => _host.Services.GetRequiredService<MtlsCredentialStore>();

    public FakeLogCollector Logs => _host.Services.GetFakeLogCollector();

    public IServiceProvider Services => _host.Services;

    /// <summary>A pooled client for https://server (keep-alive).</summary>
    public HttpClient Pooled() => _host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("server");

    /// <summary>
    /// A client whose requests ask the server to close the connection after the response, so every request opens
    /// a new connection (and, to a host name, resumes the TLS session).
    /// </summary>
    public HttpClient Fresh()
    {
        var client = _host.Services.GetRequiredService<IHttpClientFactory>().CreateClient("server");
        client.DefaultRequestHeaders.ConnectionClose = true;
        return client;
    }

    public static async Task<MtlsTestClient> StartAsync(string credentialsDirectory, Uri server, string serverService, TimeProvider? time = null,
        IDictionary<string, string?>? settings = null, Action<IHostApplicationBuilder>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Development", ApplicationName = "mtls-test-client" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Mtls:CredentialsDirectory"] = credentialsDirectory,
            ["Mtls:ReloadInterval"] = "00:00:00.200",
            ["Mtls:RetiredClientHandlerGrace"] = "00:00:02",
            ["services:server:https:0"] = server.ToString(),
        });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }

        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        builder.Logging.ClearProviders();
        builder.Logging.AddFakeLogging();
        builder.AddServiceDefaults();
        builder.Services.AddHttpClient("server", client => client.BaseAddress = new Uri("https://server")).AddMtlsClient(serverService);
        configure?.Invoke(builder);
        var host = builder.Build();
        await host.StartAsync();
        return new MtlsTestClient(host);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}
