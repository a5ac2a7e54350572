using OpenTelemetry.Trace;

namespace MtlsAspire.ServiceDefaults.Telemetry;

/// <summary>
/// Parent-based trace sampling at <see cref="TelemetryOptions.TraceSampleRatio"/> for new traces, except that the spans of
/// the mTLS activity source (named <c>mtls.*</c>: refused handshakes, credential loads and reloads) are always recorded:
/// a refusal stays visible whatever the ratio. A refused handshake inside a trace that is not recorded is started as
/// its own trace (<see cref="MtlsTelemetry"/>), so that no exported span points at a parent that was never exported.
/// </summary>
internal sealed class MtlsTraceSampler(double ratio) : Sampler
{
    private const string MtlsSpanPrefix = "mtls.";

    private static readonly SamplingResult s_record = new(SamplingDecision.RecordAndSample);

    private readonly Sampler _traces = new ParentBasedSampler(ratio >= 1 ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(ratio));

    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters) =>
        samplingParameters.Name.StartsWith(MtlsSpanPrefix, StringComparison.Ordinal) ? s_record : _traces.ShouldSample(samplingParameters);
}
