using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.CertBootstrap.Fleet;

/// <summary>A wait that ran out: which services had not loaded what, and what they report instead.</summary>
public sealed class FleetStalledException(string message, IReadOnlyList<string> laggards) : PkiException(message)
{
    /// <summary>The services still waited for.</summary>
    public IReadOnlyList<string> Laggards { get; } = laggards;
}

/// <summary>Waits until every running service reports a condition on what it has loaded.</summary>
public static class FleetWait
{
    /// <summary>
    /// Polls <paramref name="fleet"/> until every service that answers satisfies <paramref name="loaded"/> (services that
    /// are not running are skipped: they load the current files when they start). Reports the laggards through
    /// <paramref name="progress"/> every few seconds; throws <see cref="FleetStalledException"/> naming them after
    /// <paramref name="timeout"/>.
    /// </summary>
    public static async Task<IReadOnlyList<FleetMember>> UntilAsync(IFleet fleet, string what, Func<CredentialStatus, bool> loaded, TimeSpan timeout,
        TimeProvider time, Action<string> progress, CancellationToken cancellationToken)
    {
        var started = time.GetUtcNow();
        var lastReport = started;
        while (true)
        {
            var members = await fleet.ObserveAsync(cancellationToken).ConfigureAwait(false);
            var waiting = members.Where(m => m.Status is { } s ? !loaded(s) : m.Problem != HttpFleet.NotRunning).ToList();
            if (waiting.Count == 0)
            {
                return members;
            }

            var now = time.GetUtcNow();
            var names = string.Join(", ", waiting.Select(Describe));
            if (now - started >= timeout)
            {
                throw new FleetStalledException(
                    $"gave up after {Durations.Describe(timeout)} waiting for every service to load {what}: still waiting for {names}",
                    [.. waiting.Select(m => m.Service)]);
            }

            if (now - lastReport >= TimeSpan.FromSeconds(5))
            {
                progress($"still waiting for {names} to load {what}");
                lastReport = now;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), time, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string Describe(FleetMember member) => member.Status is { } s
        ? $"{member.Service} (generation {s.Generation}, leaf {s.Leaf.Serial}, {s.Bundle.Roots.Count} root(s))"
        : $"{member.Service} ({member.Problem})";
}
