using System.Net;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
using MtlsAspire.CertBootstrap.Ledger;

namespace MtlsAspire.CertBootstrap.Authority;

/// <summary>What to put in a service's leaf certificate.</summary>
/// <param name="Service">The service name (a lowercase DNS label); its SPIFFE ID is derived from it.</param>
public sealed record LeafRequest(string Service)
{
    /// <summary>DNS SANs: the names the service is reached by. When neither these nor IPs are given: localhost.</summary>
    public IReadOnlyList<string> DnsNames { get; init; } = [];

    /// <summary>IP SANs. When neither these nor DNS names are given: 127.0.0.1.</summary>
    public IReadOnlyList<IPAddress> IPAddresses { get; init; } = [];

    /// <summary>Lifetime; the PKI's default (24h) when null. Never beyond the issuer's notAfter.</summary>
    public TimeSpan? Lifetime { get; init; }

    /// <summary>Key type; the PKI's when null.</summary>
    public KeyType? KeyType { get; init; }

    /// <summary>The credential directory; <c>{pki}/services/{service}</c> when null.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>Extended key usage OIDs; serverAuth and clientAuth when null. (A serverAuth-only leaf shows what a server refuses.)</summary>
    public IReadOnlyList<string>? ExtendedKeyUsages { get; init; }

    /// <summary>
    /// When the validity starts; now when null. For demos and tests: a start in the past with a short lifetime makes
    /// an already-expired certificate.
    /// </summary>
    public DateTimeOffset? ValidFrom { get; init; }
}

/// <summary>A leaf issued and published.</summary>
/// <param name="Entry">Its ledger entry.</param>
/// <param name="SpiffeId">Its identity.</param>
/// <param name="Directory">Where its files are.</param>
/// <param name="LifetimeClamped">True when the requested lifetime was cut to end with the issuer's.</param>
public sealed record IssuedLeaf(LedgerEntry Entry, SpiffeId SpiffeId, string Directory, bool LifetimeClamped);

/// <summary>What <c>init</c> created.</summary>
/// <param name="Root">The root CA's entry.</param>
/// <param name="Intermediate">The intermediate CA's entry.</param>
/// <param name="GeneratedPassphraseFile">The local passphrase file, when one was generated; null when the operator supplied it.</param>
/// <param name="ReplacedDirectory">Where an existing PKI was moved by <c>--force</c>, if any.</param>
public sealed record InitializedPki(LedgerEntry Root, LedgerEntry Intermediate, string? GeneratedPassphraseFile, string? ReplacedDirectory);

/// <summary>What republishing ca.crt and crl.pem to the service directories did.</summary>
/// <param name="Refreshed">The directories given a new generation.</param>
/// <param name="Failed">One line per directory that could not be refreshed, naming it and the reason.</param>
public sealed record RefreshResult(IReadOnlyList<string> Refreshed, IReadOnlyList<string> Failed);
