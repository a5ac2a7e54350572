using System.Collections.Concurrent;
using System.Net.Http.Json;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>
/// Requests in a loop from several workers until stopped, recording every failure and the client serial the server
/// saw on each success. Bounded: it stops by itself after <see cref="MaxDuration"/>.
/// </summary>
public sealed class LoadLoop : IAsyncDisposable
{
    private static readonly TimeSpan MaxDuration = TimeSpan.FromMinutes(2);
    private readonly CancellationTokenSource _stop = new(MaxDuration);
    private readonly List<Task> _workers = [];
    private int _successes;

    public LoadLoop(params (string Name, Func<HttpClient> Client)[] workers)
    {
        foreach (var (name, client) in workers)
        {
            _workers.Add(Task.Run(() => Run(name, client)));
        }
    }

    public ConcurrentQueue<string> Failures { get; } = new();

    public ConcurrentDictionary<string, string> LastSerialByWorker { get; } = new();

    public int Successes => Volatile.Read(ref _successes);

    private async Task Run(string name, Func<HttpClient> clientFactory)
    {
        var client = clientFactory();
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var caller = await client.GetFromJsonAsync<Scenario.Caller>("/api/whoami", _stop.Token);
                LastSerialByWorker[name] = caller!.Serial;
                Interlocked.Increment(ref _successes);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                Failures.Enqueue($"{name}: {e.GetType().Name}: {e.Message}");
            }
        }
    }

    /// <summary>Waits until <paramref name="more"/> further requests have succeeded.</summary>
    public Task AdvanceAsync(int more)
    {
        var target = Successes + more;
        return Eventually.True(() => Successes >= target, $"{more} more successful requests");
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_workers);
        _stop.Dispose();
    }
}
