using System.Security.Cryptography.X509Certificates;

namespace MtlsAspire.CertBootstrap.Ledger;

/// <summary>What a ledger entry certifies.</summary>
public enum CertificateKind
{
    /// <summary>A self-signed root CA.</summary>
    Root,

    /// <summary>An intermediate CA signed by a root.</summary>
    Intermediate,

    /// <summary>A service's leaf certificate.</summary>
    Leaf,
}

/// <summary>Where an issued certificate stands.</summary>
public enum CertificateStatus
{
    /// <summary>Current: the CA in use, or the service's latest leaf.</summary>
    Active,

    /// <summary>A leaf replaced by a newer one for the same service (still valid until it expires).</summary>
    Superseded,

    /// <summary>A CA no longer issuing (still trusted for what it issued).</summary>
    Retired,

    /// <summary>Revoked: listed in its issuer's CRL.</summary>
    Revoked,

    /// <summary>A new root during a root rotation: already in every trust bundle, not signing yet (step 1 of 3).</summary>
    Pending,

    /// <summary>A root taken out of the trust bundle (the last step of a root rotation, or an abandoned new root).</summary>
    Distrusted,
}

/// <summary>One certificate the PKI has issued.</summary>
public sealed record LedgerEntry
{
    /// <summary>Serial number, uppercase hex.</summary>
    public required string Serial { get; init; }

    /// <summary>Root, intermediate or leaf.</summary>
    public required CertificateKind Kind { get; init; }

    /// <summary>Subject distinguished name.</summary>
    public required string Subject { get; init; }

    /// <summary>The leaf's SPIFFE ID; null for CAs.</summary>
    public string? SpiffeId { get; init; }

    /// <summary>The service name of a leaf; null for CAs.</summary>
    public string? Service { get; init; }

    /// <summary>The issuer's serial; null for a root.</summary>
    public string? IssuerSerial { get; init; }

    /// <summary>ecdsa-p256 or rsa-2048.</summary>
    public required string KeyType { get; init; }

    /// <summary>Start of validity (back-dated by the clock-skew allowance for leaves).</summary>
    public required DateTimeOffset NotBefore { get; init; }

    /// <summary>End of validity.</summary>
    public required DateTimeOffset NotAfter { get; init; }

    /// <summary>When it was issued.</summary>
    public required DateTimeOffset IssuedAt { get; init; }

    /// <summary>Current status.</summary>
    public required CertificateStatus Status { get; init; }

    /// <summary>When it was revoked, if it was.</summary>
    public DateTimeOffset? RevokedAt { get; init; }

    /// <summary>Why it was revoked, if it was.</summary>
    public X509RevocationReason? RevocationReason { get; init; }

    /// <summary>The DNS SANs of a leaf, for renewal.</summary>
    public IReadOnlyList<string> DnsNames { get; init; } = [];

    /// <summary>The IP SANs of a leaf, for renewal.</summary>
    public IReadOnlyList<string> IPAddresses { get; init; } = [];

    /// <summary>The requested lifetime of a leaf, for renewal.</summary>
    public TimeSpan? Lifetime { get; init; }

    /// <summary>The credential directory a leaf was written to.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>True when <paramref name="now"/> is past <see cref="NotAfter"/>.</summary>
    public bool IsExpired(DateTimeOffset now) => now > NotAfter;
}

/// <summary>One event in the PKI's lifecycle timeline (issued, renewed, revoked, rotated, CRL published).</summary>
/// <param name="At">When it happened.</param>
/// <param name="Kind">issued, renewed, revoked, intermediate-rotated, crl-published, initialized.</param>
/// <param name="Serial">The certificate concerned, if any.</param>
/// <param name="Service">The service concerned, if any.</param>
/// <param name="Detail">Words for a person.</param>
public sealed record LedgerEvent(DateTimeOffset At, string Kind, string? Serial, string? Service, string Detail);
