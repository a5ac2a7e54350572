using System.Net.Security;

namespace MtlsAspire.Mtls.Bench;

/// <summary>A server child, the load generator presenting its PKI's client certificate, and the rows measured against it.</summary>
internal sealed class ServerGroup : IDisposable
{
    private ServerGroup(string description, ServerProcess server, LoadGenerator generator)
    {
        Description = description;
        Server = server;
        Generator = generator;
    }

    public string Description { get; }

    public ServerProcess Server { get; }

    public LoadGenerator Generator { get; }

    public IReadOnlyList<RowSpec> Specs { get; private set; } = [];

    public static ServerGroup Start(BenchPki pki, string work, IReadOnlyDictionary<string, string> environment, int? cpu, string description,
        Func<ServerProcess, List<RowSpec>> rows)
    {
        var clientContext = SslStreamCertificateContext.Create(pki.Client.Leaf, pki.Client.Intermediates, offline: true);
        var server = ServerProcess.Start(pki.ServerDirectory, work, environment, cpu);
        try
        {
            return new ServerGroup(description, server, new LoadGenerator(clientContext, pki.TrustedRoots)) { Specs = rows(server) };
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    /// <summary>Unmeasured load (JIT tiering, pools): half on new connections, half keep-alive when the group has such a row.</summary>
    public async Task WarmUpAsync(TimeSpan duration, int workers)
    {
        if (duration <= TimeSpan.Zero || Specs.Count == 0)
        {
            return;
        }

        var newConnection = Specs.FirstOrDefault(s => s.Mode == ConnectionMode.NewConnection);
        var keepAlive = Specs.FirstOrDefault(s => s.Mode == ConnectionMode.KeepAlive);
        var share = newConnection is not null && keepAlive is not null ? duration / 2 : duration;
        foreach (var spec in new[] { newConnection, keepAlive }.OfType<RowSpec>())
        {
            await Generator.RunAsync(spec, workers, Server, share, TimeSpan.FromMilliseconds(1)).ConfigureAwait(false);
        }
    }

    public void Dispose() => Server.Dispose();
}
