using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MtlsAspire.ServiceDefaults;
using MtlsAspire.ServiceDefaults.Authorization;
using MtlsAspire.ServiceDefaults.Mtls;

namespace MtlsAspire.Mtls.Bench;

/// <summary>
/// The child process: a real Kestrel with <c>AddServiceDefaults()</c> and <c>AddMtlsServer()</c>, the URLs from
/// <c>ASPNETCORE_URLS</c> (set by the parent), and the benchmark's endpoints. It writes its bound ports to the port
/// file and runs until the parent kills it or closes its standard input.
/// </summary>
internal static class ServerMode
{
    public const string PingPath = "/api/ping";
    public const string PingOpenPath = "/api/ping-open";

    public static async Task<int> RunAsync(IReadOnlyList<string> args)
    {
        string? credentials = null;
        string? portFile = null;
        var plain = false;
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            switch (name)
            {
                case "--credentials":
                    credentials = Value();
                    break;
                case "--port-file":
                    portFile = Value();
                    break;
                case "--plain":
                    plain = true;
                    break;
                default:
                    throw new ArgumentException($"server: unknown argument '{name}'.");
            }
        }

        if ((credentials is null && !plain) || portFile is null)
        {
            throw new ArgumentException("server needs --credentials DIR (or --plain) and --port-file FILE.");
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = [],
            EnvironmentName = Environments.Production,
        });
        if (!plain)
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Mtls:CredentialsDirectory"] = credentials,
            });
        }

        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // Kestrel warns at every start that the code-defined endpoints override ASPNETCORE_URLS and that the plain port has no HTTP/2.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Server.Kestrel", LogLevel.Error);
        builder.AddServiceDefaults();
        if (!plain)
        {
            builder.AddMtlsServer();
        }

        await using var app = builder.Build();
        app.MapDefaultEndpoints();
        if (plain)
        {
            // The same app without mTLS: what the seeds' "mTLS costs about 0.1 %" is measured against.
            app.MapGet(PingOpenPath, () => "pong");
        }
        else
        {
            app.MapGet(PingPath, () => "pong").RequireCaller("order");
            app.MapGet(PingOpenPath, () => "pong");
        }

        await app.StartAsync().ConfigureAwait(false);

        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        var https = plain ? 0 : new Uri(addresses.Single(a => a.StartsWith("https://", StringComparison.Ordinal))).Port;
        var http = new Uri(addresses.Single(a => a.StartsWith("http://", StringComparison.Ordinal))).Port;
        var cacheSize = plain ? 0 : app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<MtlsOptions>>().Value.ValidationCacheSize;
        var temporary = portFile + ".tmp";
        await File.WriteAllTextAsync(temporary, string.Create(CultureInfo.InvariantCulture,
            $"https={https}\nhttp={http}\ncache={cacheSize}\npid={Environment.ProcessId}\n")).ConfigureAwait(false);
        File.Move(temporary, portFile, overwrite: true);

        await WaitForParentAsync(app).ConfigureAwait(false);
        return 0;
    }

    /// <summary>
    /// Runs until the parent closes our standard input (it keeps it open; when it goes away, even killed, stdin reaches
    /// EOF) or the app is shut down, then stops the app.
    /// </summary>
    internal static async Task WaitForParentAsync(WebApplication app)
    {
        var parentGone = Task.Factory.StartNew(() =>
        {
            while (Console.In.Read() >= 0)
            {
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        await Task.WhenAny(parentGone, app.WaitForShutdownAsync()).ConfigureAwait(false);
        await app.StopAsync().ConfigureAwait(false);
    }
}
