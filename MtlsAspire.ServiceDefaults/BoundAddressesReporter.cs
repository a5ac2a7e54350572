using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MtlsAspire.ServiceDefaults;

/// <summary>
/// When <c>MtlsAspire:EndpointsFile</c> is set (by the AppHost), writes the addresses Kestrel actually bound — the
/// service listens on port 0 and the operating system picks the port, so no other process can take it in between —
/// one per line, once the app has started. The file is written to a temporary name and renamed into place.
/// </summary>
internal sealed class BoundAddressesReporter(IServiceProvider services, IHostApplicationLifetime lifetime, string path) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            var temporary = path + ".tmp";
            File.WriteAllLines(temporary, addresses);
            File.Move(temporary, path, overwrite: true);
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
