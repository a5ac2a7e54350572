using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Hosting;

namespace MtlsAspire.EndToEnd.Tests.Infrastructure;

/// <summary>The AppHost's certificate lifecycle on its own (no app), in a state directory of its own that disposal removes.</summary>
internal sealed class LifecycleScope : IDisposable
{
    private LifecycleScope(string state, CertificateLifecycle lifecycle)
    {
        StateDirectory = state;
        Lifecycle = lifecycle;
    }

    public string StateDirectory { get; }

    public CertificateLifecycle Lifecycle { get; }

    /// <summary>A lifecycle with the options <paramref name="options"/> makes of a fresh state directory; not bootstrapped yet.</summary>
    public static LifecycleScope Create(Func<string, PkiOptions> options, TimeProvider time, ILogger? timeline = null)
    {
        var state = TestApp.NewStateDirectory();
        return new LifecycleScope(state, new CertificateLifecycle(options(state), PassphraseSource.Local, time, timeline ?? NullLogger.Instance));
    }

    public void Dispose()
    {
        Lifecycle.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(StateDirectory))
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
    }
}
