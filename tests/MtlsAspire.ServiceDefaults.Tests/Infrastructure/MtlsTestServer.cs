using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using MtlsAspire.ServiceDefaults.Mtls;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>A real Kestrel with the ServiceDefaults mTLS server, on 127.0.0.1 port 0 (mTLS) and port 0 (management).</summary>
public sealed class MtlsTestServer : IAsyncDisposable
{
    private MtlsTestServer(WebApplication app)
    {
        App = app;
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        Https = new Uri($"https://localhost:{new Uri(addresses.Single(a => a.StartsWith("https://", StringComparison.Ordinal))).Port}");
        Http = new Uri(addresses.Single(a => a.StartsWith("http://", StringComparison.Ordinal)));
    }

    public WebApplication App { get; }

    /// <summary>The mTLS endpoint, as https://localhost:{port} (a host name, so the .NET client resumes TLS sessions).</summary>
    public Uri Https { get; }

    /// <summary>The same endpoint by IP.</summary>
    public Uri HttpsByIp => new($"https://127.0.0.1:{Https.Port}");

    /// <summary>The plain management endpoint.</summary>
    public Uri Http { get; }

    public MtlsCredentialStore Store => App.Services.GetRequiredService<MtlsCredentialStore>();

    public FakeLogCollector Logs => App.Services.GetFakeLogCollector();

    public static async Task<MtlsTestServer> StartAsync(string credentialsDirectory, Action<WebApplication> map, TimeProvider? time = null,
        IDictionary<string, string?>? settings = null, string environment = "Development", Action<IHostApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = environment, ApplicationName = "mtls-test-server" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["urls"] = "https://127.0.0.1:0;http://127.0.0.1:0",
            ["Mtls:CredentialsDirectory"] = credentialsDirectory,
            ["Mtls:ReloadInterval"] = "00:00:00.200",
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
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.AddServiceDefaults();
        builder.AddMtlsServer();
        configure?.Invoke(builder);
        var app = builder.Build();
        app.MapDefaultEndpoints();
        map(app);
        await app.StartAsync();
        return new MtlsTestServer(app);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
