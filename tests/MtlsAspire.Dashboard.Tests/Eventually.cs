namespace MtlsAspire.Dashboard.Tests;

/// <summary>Waits on a condition: probes it every half second until it holds or the timeout passes (then fails, saying what was last seen).</summary>
internal static class Eventually
{
    public static async Task<T> UntilAsync<T>(Func<CancellationToken, Task<T>> probe, Func<T, bool> holds, TimeSpan timeout, Func<T, string> describe)
    {
        using var deadline = new CancellationTokenSource(timeout);
        using var ticks = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        T last;
        do
        {
            last = await probe(deadline.Token);
            if (holds(last))
            {
                return last;
            }
        }
        while (await WaitTickAsync(ticks, deadline.Token));

        throw new TimeoutException($"Not within {timeout}: {describe(last)}");
    }

    private static async Task<bool> WaitTickAsync(PeriodicTimer ticks, CancellationToken deadline)
    {
        try
        {
            return await ticks.WaitForNextTickAsync(deadline);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            return false;
        }
    }
}
