using System.Globalization;
using Microsoft.Extensions.Options;

namespace MtlsAspire.ServiceDefaults.Telemetry;

/// <summary>How much telemetry a service sends: the <c>Mtls:Telemetry</c> section, validated at start.</summary>
public sealed class TelemetryOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Mtls:Telemetry";

    /// <summary>
    /// The share of new traces recorded and exported, from 0 to 1 (default 1: every trace, as the dashboard demo needs).
    /// Parent-based: a request that arrives with a trace follows its caller's decision, so an order's trace is whole or
    /// absent. The spans of the mTLS activity source (refused handshakes, credential loads) are kept whatever the ratio;
    /// logs and metrics are never sampled.
    /// </summary>
    public double TraceSampleRatio { get; set; } = 1;
}

internal sealed class TelemetryOptionsValidator : IValidateOptions<TelemetryOptions>
{
    public ValidateOptionsResult Validate(string? name, TelemetryOptions options) =>
        options.TraceSampleRatio is >= 0 and <= 1
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(string.Create(CultureInfo.InvariantCulture,
                $"Mtls:Telemetry:TraceSampleRatio must be a number from 0 to 1 (the share of traces kept, e.g. 0.1); it is {options.TraceSampleRatio}."));
}
