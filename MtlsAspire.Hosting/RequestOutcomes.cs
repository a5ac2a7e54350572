using Aspire.Hosting.ApplicationModel;

namespace MtlsAspire.Hosting;

/// <summary>Marks a resource whose console log reports each request it made (the fire drill counts them).</summary>
public sealed record RequestOutcomesAnnotation : IResourceAnnotation;

/// <summary>
/// Counts request outcomes from console log lines: a traffic source ends each request's log line with
/// <see cref="Succeeded"/> or <see cref="Failed"/> (the shopper does).
/// </summary>
internal sealed class TrafficCounter
{
    /// <summary>The marker of a request that succeeded.</summary>
    public const string Succeeded = "(request ok)";

    /// <summary>The marker of a request that failed.</summary>
    public const string Failed = "(request failed)";

    private long _succeeded;
    private long _failed;

    public TrafficCount Count => new(Interlocked.Read(ref _succeeded), Interlocked.Read(ref _failed));

    public void Observe(string line)
    {
        if (line.Contains(Failed, StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _failed);
        }
        else if (line.Contains(Succeeded, StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _succeeded);
        }
    }
}

/// <summary>Request outcomes.</summary>
public static class RequestOutcomesExtensions
{
    /// <summary>
    /// Counts this resource's requests from its console log for the fire drill: each line that ends a request says
    /// <c>(request ok)</c> or <c>(request failed)</c>.
    /// </summary>
    public static IResourceBuilder<T> WithRequestOutcomes<T>(this IResourceBuilder<T> builder) where T : IResource
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.WithAnnotation(new RequestOutcomesAnnotation());
    }
}
