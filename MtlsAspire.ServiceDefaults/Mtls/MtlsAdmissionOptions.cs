using System.Globalization;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// The <c>Mtls:Admission</c> section: which new connections of the mTLS endpoint may start a TLS handshake
/// (<see cref="HandshakeAdmission"/>). Per source address (an IPv4 address; an IPv6 /64 prefix), concurrent handshakes
/// are bounded and failed handshakes earn a penalty that decays; a penalised source's connections are closed before any
/// TLS work. The defaults never bother normal traffic: a source that recently completed a handshake is never penalised
/// (behind a proxy or NAT every caller shares the proxy's address), and a misconfigured caller is refused only after
/// many failures, and served again within about a minute of fixing its certificate.
/// </summary>
public sealed class MtlsAdmissionOptions
{
    /// <summary>Admission control on (default true). Off: every connection goes straight to the TLS handshake.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Handshakes in flight from one source (default 64). A slot is held from the connection's first byte until the
    /// handshake ends: a peer that sends nothing holds one until <see cref="MtlsOptions.HandshakeTimeout"/>.
    /// </summary>
    public int MaxHandshakesPerSource { get; set; } = 64;

    /// <summary>Handshakes in flight from all sources together (default 512): a flood from many sources cannot queue unbounded TLS work.</summary>
    public int MaxConcurrentHandshakes { get; set; } = 512;

    /// <summary>
    /// The penalty score at which a source is refused (default 50): each failed handshake adds 1, and the score halves
    /// every <see cref="PenaltyHalfLife"/>. Refused connections add nothing, so a source that fixes its certificate is
    /// served again once the score has decayed below this.
    /// </summary>
    public int FailuresBeforePenalty { get; set; } = 50;

    /// <summary>How fast a penalty decays: the score halves every this long (default 30 s).</summary>
    public TimeSpan PenaltyHalfLife { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a source that completed a handshake is exempt from penalties (default 10 min; zero: never exempt). Its
    /// address is shared with a legitimate peer (a proxy, a NAT, Aspire's DCP proxy), and refusing it would refuse that
    /// peer; an attacker without a certificate of our trust domain never completes a handshake. Concurrency bounds still apply.
    /// </summary>
    public TimeSpan ProvenSourceMemory { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Sources remembered (default 10,000, about 1 MB). When full, the least valuable tenth is forgotten: sources neither
    /// penalised nor proven, least recently seen first.
    /// </summary>
    public int MaxSources { get; set; } = 10_000;

    /// <summary>The failures of these settings, each naming its setting; empty when valid.</summary>
    internal IEnumerable<string> Validate()
    {
        if (!Enabled)
        {
            yield break;
        }

        if (MaxHandshakesPerSource < 1)
        {
            yield return Invariant($"Mtls:Admission:MaxHandshakesPerSource must be at least 1, e.g. 64; it is {MaxHandshakesPerSource}.");
        }

        if (MaxConcurrentHandshakes < MaxHandshakesPerSource)
        {
            yield return Invariant($"Mtls:Admission:MaxConcurrentHandshakes must be at least Mtls:Admission:MaxHandshakesPerSource ({MaxHandshakesPerSource}), e.g. 512; it is {MaxConcurrentHandshakes}.");
        }

        if (FailuresBeforePenalty < 1)
        {
            yield return Invariant($"Mtls:Admission:FailuresBeforePenalty must be at least 1, e.g. 50; it is {FailuresBeforePenalty}.");
        }

        if (PenaltyHalfLife <= TimeSpan.Zero)
        {
            yield return Invariant($"Mtls:Admission:PenaltyHalfLife must be a positive time span, e.g. 00:00:30; it is {PenaltyHalfLife}.");
        }

        if (ProvenSourceMemory < TimeSpan.Zero)
        {
            yield return Invariant($"Mtls:Admission:ProvenSourceMemory must not be negative (zero: no exemption), e.g. 00:10:00; it is {ProvenSourceMemory}.");
        }

        // Every source with a handshake in flight stays remembered, so there must be room beyond them.
        if (MaxSources <= MaxConcurrentHandshakes)
        {
            yield return Invariant($"Mtls:Admission:MaxSources must be more than Mtls:Admission:MaxConcurrentHandshakes ({MaxConcurrentHandshakes}), e.g. 10000; it is {MaxSources}.");
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
