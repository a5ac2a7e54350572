using System.Globalization;

namespace MtlsAspire.Verification.Status;

/// <summary>
/// When a leaf is close enough to expiry that someone should look: <see cref="ExpiryState.Warning"/> once less than
/// <see cref="WarningFraction"/> of its lifetime is left (renewal normally happens at 2/3, so this means renewal is
/// late), <see cref="ExpiryState.Critical"/> once less than <see cref="CriticalRemaining"/> is left, capped at a tenth of
/// the lifetime so that short lifetimes (minutes, in tests and demos) do not start critical. Pure: the same verdict
/// for the service (health, logs, metrics, <c>/mtls/status</c>) and for whoever rotates its credentials.
/// </summary>
/// <param name="WarningFraction">The fraction of the lifetime left below which the state is Warning (default 0.25).</param>
/// <param name="CriticalRemaining">The time left below which the state is Critical (default 1 h), at most a tenth of the lifetime.</param>
public sealed record ExpiryPolicy(double WarningFraction, TimeSpan CriticalRemaining)
{
    /// <summary>The default warning fraction: a quarter of the lifetime left.</summary>
    public const double DefaultWarningFraction = 0.25;

    /// <summary>The default critical time left: one hour.</summary>
    public static readonly TimeSpan DefaultCriticalRemaining = TimeSpan.FromHours(1);

    /// <summary>The defaults: warn below a quarter of the lifetime, critical below one hour (at most a tenth of the lifetime).</summary>
    public static ExpiryPolicy Default { get; } = new(DefaultWarningFraction, DefaultCriticalRemaining);

    /// <summary>The time left below which a certificate of <paramref name="lifetime"/> is in Warning.</summary>
    public TimeSpan WarningThreshold(TimeSpan lifetime) => lifetime * WarningFraction;

    /// <summary>The time left below which a certificate of <paramref name="lifetime"/> is Critical: <see cref="CriticalRemaining"/>, at most a tenth of it.</summary>
    public TimeSpan CriticalThreshold(TimeSpan lifetime) => CriticalRemaining < lifetime / 10 ? CriticalRemaining : lifetime / 10;

    /// <summary>
    /// The state of a certificate valid from <paramref name="notBefore"/> to <paramref name="notAfter"/> at
    /// <paramref name="now"/>, with a sentence naming the state, the time left, both thresholds and both times.
    /// </summary>
    public ExpiryStatus Evaluate(DateTimeOffset notBefore, DateTimeOffset notAfter, DateTimeOffset now)
    {
        var lifetime = notAfter - notBefore;
        var remaining = notAfter - now;
        var warning = WarningThreshold(lifetime);
        var critical = CriticalThreshold(lifetime);
        var state = now < notBefore ? ExpiryState.NotYetValid
            : now > notAfter ? ExpiryState.Expired
            : remaining < critical ? ExpiryState.Critical
            : remaining < warning ? ExpiryState.Warning
            : ExpiryState.Ok;

        var what = state switch
        {
            ExpiryState.NotYetValid => $"the certificate is not valid yet ({Durations.Describe(notBefore - now)} early: check the clock)",
            ExpiryState.Expired => $"the certificate expired {Durations.Describe(remaining)} ago",
            ExpiryState.Critical => $"the certificate expires in {Durations.Describe(remaining)}, less than the critical {Durations.Describe(critical)}: renew it now",
            ExpiryState.Warning => $"the certificate expires in {Durations.Describe(remaining)}, less than the warning {Durations.Describe(warning)}: renewal is late",
            _ => $"the certificate expires in {Durations.Describe(remaining)}",
        };
        var detail = string.Create(CultureInfo.InvariantCulture,
            $"{what} (warning below {Durations.Describe(warning)} = {WarningFraction:0.##} of its {Durations.Describe(lifetime)} lifetime, critical below {Durations.Describe(critical)}; notBefore {notBefore.UtcDateTime:u}, notAfter {notAfter.UtcDateTime:u}, now {now.UtcDateTime:u})");
        return new ExpiryStatus(state, remaining, detail);
    }

    /// <summary>The threshold the state <paramref name="state"/> of a certificate of <paramref name="lifetime"/> was measured against.</summary>
    public TimeSpan ThresholdOf(ExpiryState state, TimeSpan lifetime) => state switch
    {
        ExpiryState.Warning => WarningThreshold(lifetime),
        ExpiryState.Critical => CriticalThreshold(lifetime),
        _ => TimeSpan.Zero,
    };
}
