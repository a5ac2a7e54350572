using System.Collections.Concurrent;
using System.Diagnostics;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>
/// Records the stopped spans of one activity source that belong to the test. An activity listener sees the spans of
/// the whole process, and tests run in parallel: <c>mine</c> must name something only this test's server or client
/// has (a certificate serial it issued, a port it bound).
/// </summary>
public sealed class SpanRecorder : IDisposable
{
    private readonly ConcurrentQueue<Activity> _spans = new();
    private readonly ActivityListener _listener;

    public SpanRecorder(string source, Func<Activity, bool> mine)
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = candidate => candidate.Name == source,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                if (mine(activity))
                {
                    _spans.Enqueue(activity);
                }
            },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public IReadOnlyList<Activity> Spans => [.. _spans];

    /// <summary>Waits for the first recorded span.</summary>
    public async Task<Activity> FirstAsync(string what)
    {
        await Eventually.True(() => !_spans.IsEmpty, what);
        return _spans.First();
    }

    public void Dispose() => _listener.Dispose();
}
