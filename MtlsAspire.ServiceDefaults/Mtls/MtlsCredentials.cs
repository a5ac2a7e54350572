using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Status;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// One validated generation of this service's credentials: its certificate context (leaf + intermediate, sent on
/// both sides), the trust bundle, the CRLs, and the peer validator with its cache. Immutable; a reload builds a new one.
/// </summary>
public sealed class MtlsCredentials : IDisposable
{
    private readonly ServiceCredentials _files;
    private readonly ConcurrentDictionary<string, CachedVerdict> _cache = new(StringComparer.Ordinal);
    private readonly KnownIntermediates _knownIntermediates;
    private readonly MtlsOptions _options;
    private readonly Telemetry.MtlsTelemetry? _telemetry;
    private long _reusedChains;

    private MtlsCredentials(ServiceCredentials files, string trustDomain, long generation, MtlsOptions options, KnownIntermediates knownIntermediates,
        RevocationList? issuerCrl, Telemetry.MtlsTelemetry? telemetry, DateTimeOffset loadedAt)
    {
        LoadedAt = loadedAt;
        _telemetry = telemetry;
        _files = files;
        _options = options;
        _knownIntermediates = knownIntermediates;
        TrustDomain = trustDomain;
        Generation = generation;
        IssuerCrl = issuerCrl;
        CertificateContext = SslStreamCertificateContext.Create(files.Leaf, files.Intermediates, offline: true);
        Environment = Identity.Path.Split('/') is ["", "ns", var environment, "sa", _] ? environment : null;
    }

    /// <summary>This service's SPIFFE ID.</summary>
    public SpiffeId Identity => _files.SpiffeId;

    /// <summary>The leaf certificate (with its key).</summary>
    public X509Certificate2 Leaf => _files.Leaf;

    /// <summary>The certificate context to present: leaf and intermediate, so peers can build the chain.</summary>
    public SslStreamCertificateContext CertificateContext { get; }

    /// <summary>The trust domain peers must belong to.</summary>
    public string TrustDomain { get; }

    /// <summary>The environment segment of this service's SPIFFE path (<c>/ns/{environment}/sa/…</c>), if it follows the convention.</summary>
    public string? Environment { get; }

    /// <summary>Increases with every generation swapped in.</summary>
    public long Generation { get; }

    /// <summary>When this generation was loaded (the store's clock).</summary>
    public DateTimeOffset LoadedAt { get; }

    /// <summary>The intermediates loaded with the leaf (tls.crt after the leaf).</summary>
    public X509Certificate2Collection Intermediates => _files.Intermediates;

    /// <summary>Every CRL of crl.pem, as loaded.</summary>
    public IReadOnlyList<CrlStatus> Crls => _files.Revocation.Loaded;

    /// <summary>The leaf's expiry verdict at <paramref name="now"/> by <paramref name="policy"/>.</summary>
    public ExpiryStatus Expiry(ExpiryPolicy policy, DateTimeOffset now) =>
        policy.Evaluate(new DateTimeOffset(Leaf.NotBefore.ToUniversalTime()), new DateTimeOffset(Leaf.NotAfter.ToUniversalTime()), now);

    /// <summary>What this generation is, as <c>/mtls/status</c> reports it (public certificate data only).</summary>
    public CredentialStatus Status(ExpiryPolicy policy, DateTimeOffset now) => _files.Status(Generation, LoadedAt, Expiry(policy, now));

    /// <summary>Peer verdicts cached by this generation (<see cref="MtlsOptions.ValidationCacheSize"/> at most).</summary>
    internal int CachedVerdicts => _cache.Count;

    /// <summary>Verdicts of this generation that took the chain SslStream had built instead of building their own.</summary>
    internal long ReusedChains => Interlocked.Read(ref _reusedChains);

    /// <summary>Intermediates learned from authenticated peers, and strangers' chains remembered (shared by every generation).</summary>
    internal (int Learned, int Strangers, long StrangerBytes) KnownIntermediateCounts => _knownIntermediates.Counts;

    /// <summary>The (verified) CRL of this service's own issuer.</summary>
    public RevocationList? IssuerCrl { get; }

    /// <summary>Why this service's own certificate is revoked by the CRLs it loaded (peers refuse it), or null.</summary>
    public string? OwnRevocation { get; private init; }

    /// <summary>The roots of ca.crt.</summary>
    public X509Certificate2Collection TrustedRoots => _files.TrustedRoots;

    /// <summary>
    /// Parses and validates a file set read from <paramref name="directory"/>: key matches certificate, the leaf has a
    /// SPIFFE ID, the chain builds to the bundle with both EKUs at <paramref name="now"/>, the CRL verifies and does not
    /// list the leaf. Throws <see cref="InvalidDataException"/> with the reason otherwise. With a separate
    /// <see cref="CredentialDirectory.CrlFile"/> that holds no CRL (not there yet), the set loads without CRLs:
    /// every peer is then refused (crl-unavailable) until one arrives.
    /// </summary>
    internal static MtlsCredentials Load(CredentialFiles files, CredentialDirectory directory, MtlsOptions options, long generation, KnownIntermediates knownIntermediates,
        DateTimeOffset now, Telemetry.MtlsTelemetry? telemetry = null)
    {
        var source = directory.Path;
        var parsed = ServiceCredentials.Parse(files, directory);
        try
        {
            var check = ChainCheck.Verify(parsed.Leaf, parsed.Intermediates, parsed.TrustedRoots, parsed.Revocation, now, options.AllowStaleCrl,
                CertificateFacts.ServerAuthOid, CertificateFacts.ClientAuthOid);
            string? ownRevocation = null;
            // A CRL ConfigMap not published yet is no bad file set: without a CRL our own chain cannot be checked either,
            // and every peer is refused (fail closed) until one arrives. Any other revocation problem still refuses the set.
            var awaitingCrl = directory.CrlFile is not null && parsed.Revocation.Loaded.Count == 0;
            if (!check.IsValid && !(awaitingCrl && check.Path.Count >= 2 && check.Failures.All(f => f.Kind == ChainFailure.RevocationUnknown)))
            {
                // Our own certificate (or its intermediate) revoked is not a bad file set: the CRLs in it must still be
                // honoured for peers (else revoking an intermediate would not take effect anywhere). The set is loaded,
                // and the service says loudly that peers refuse it until its replacement arrives.
                // (A revoked intermediate's own CRL is no longer published, so the leaf's revocation status is unknown too.)
                if (check.Path.Count < 2 || !check.Failures.Any(f => f.Kind == ChainFailure.Revoked)
                    || check.Failures.Any(f => f.Kind is not (ChainFailure.Revoked or ChainFailure.RevocationUnknown)))
                {
                    var against = directory.BundleFile is null && directory.CrlFile is null ? "ca.crt and crl.pem" : $"{directory.BundleSource} and {directory.CrlSource}";
                    throw new InvalidDataException($"{source}/tls.crt does not validate against {against}: {string.Join("; ", check.Problems)}");
                }

                ownRevocation = string.Join("; ", check.Problems);
            }

            var ownCrl = check.Revocation.Count > 0 ? check.Revocation[0] : null;
            var trustDomain = options.TrustDomain ?? parsed.SpiffeId.TrustDomain;
            if (!parsed.SpiffeId.IsMemberOf(trustDomain))
            {
                throw new InvalidDataException($"{source}/tls.crt identifies {parsed.SpiffeId}, outside the configured trust domain '{trustDomain}' (Mtls:TrustDomain).");
            }

            if (check.Path.Count >= 2 && TrustDomainBinding.Refusal(parsed.Leaf, parsed.SpiffeId, check.Path[^1], trustDomain) is { } foreignRoot)
            {
                throw new InvalidDataException($"{source}/tls.crt is not vouched for by its root: {foreignRoot}.");
            }

            knownIntermediates.AddOwn(parsed.Intermediates);
            return new MtlsCredentials(parsed, trustDomain, generation, options, knownIntermediates, ownCrl?.Crl, telemetry, now) { OwnRevocation = ownRevocation };
        }
        catch
        {
            parsed.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A chain policy for SslStream's own chain build, which runs before the validation callback on every handshake:
    /// trusting only ca.crt's roots keeps that build to our 2–3 certificates instead of the system's ~150 roots. The
    /// callback still decides (<see cref="Validate"/>), on the injected clock, with CRLs and identity.
    /// </summary>
    public X509ChainPolicy CreateChainPolicy(string usage)
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        policy.CustomTrustStore.AddRange(_files.TrustedRoots);
        policy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(usage));
        return policy;
    }

    /// <summary>The SPIFFE ID of <paramref name="service"/> in this service's trust domain and environment.</summary>
    public SpiffeId IdentityOf(string service) =>
        Environment is { } environment
            ? SpiffeId.ForWorkload(TrustDomain, environment, service)
            : throw new InvalidOperationException($"{Identity} does not follow /ns/{{environment}}/sa/{{service}}: name peers by full SPIFFE ID.");

    /// <summary>
    /// Judges a peer certificate: a workload leaf (no CA, no keyCertSign or cRLSign), chain to the bundle (peer-sent and
    /// known intermediates, so resumed TLS sessions validate too), the EKU for its role and the CRLs; on the client side
    /// also a SPIFFE ID in the trust domain and the identity expected of the server (a server checks the caller's
    /// identity per request: 401/403). Positive verdicts are cached per certificate until its chain or CRL expires.
    /// </summary>
    public PeerVerdict Validate(PeerCertificate peer, PeerSide side, DateTimeOffset now, SpiffeId expectedServer = default)
    {
        var certificate = peer.Certificate;
        if (certificate is null)
        {
            return PeerVerdict.Reject(RejectionReason.NoCertificate, side == PeerSide.Server
                ? "the client presented no certificate (a client certificate is required on this endpoint)"
                : "the server presented no certificate");
        }

        if (TooLarge(certificate, peer.SentIntermediates) is { } tooLarge)
        {
            // Before any hashing, parsing or chain building, and nothing of it remembered: what a stranger sends costs us
            // its bytes once, for this handshake only.
            return PeerVerdict.Reject(RejectionReason.ChainTooLarge, tooLarge);
        }

        var cacheKey = (side == PeerSide.Server ? "s:" : "c:") + certificate.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256);
        if (_cache.TryGetValue(cacheKey, out var cached) && now >= cached.ValidFrom && now <= cached.ValidUntil)
        {
            _telemetry?.Validated(side, cacheHit: true);
            return CheckExpected(cached.Identity, side, expectedServer, cached.ValidUntil);
        }

        _telemetry?.Validated(side, cacheHit: false);
        if (NotALeaf(certificate) is { } notALeaf)
        {
            return PeerVerdict.Reject(RejectionReason.NotALeaf, notALeaf, certificate.GetSpiffeId(out _));
        }

        var usage = side == PeerSide.Server ? CertificateFacts.ClientAuthOid : CertificateFacts.ServerAuthOid;
        var sent = peer.SentIntermediates;
        // SslStream built the chain before calling us (our roots, the usage, no revocation): when that build was clean and
        // its dates hold on our clock too, its elements are ours and only the CRLs remain; a second build would cost as much
        // as the first. Otherwise the full check below decides, and words the refusal, as it always did.
        var check = peer.Chain is { } built
            ? ChainCheck.FromBuiltChain(built, certificate, _files.TrustedRoots, _files.Revocation, now, _options.AllowStaleCrl, usage)
            : null;
        if (check is not null)
        {
            Interlocked.Increment(ref _reusedChains);
        }
        else
        {
            var known = _knownIntermediates.Snapshot();
            check = ChainCheck.Verify(certificate, [.. sent, .. known], _files.TrustedRoots, _files.Revocation, now, _options.AllowStaleCrl, usage);
            if (sent.Count == 0 && check.Failure?.Kind is ChainFailure.IncompleteChain or ChainFailure.UnknownCa
                && _knownIntermediates.SentByStranger(certificate) is { Count: > 0 } remembered)
            {
                // No chain sent (a resumed session, or the middleware judging an open connection again), and the hints do not
                // build one: what this very leaf sent before it was authenticated, tried only now and only for it.
                check = ChainCheck.Verify(certificate, [.. known, .. remembered], _files.TrustedRoots, _files.Revocation, now, _options.AllowStaleCrl, usage);
            }
        }

        var identity = certificate.GetSpiffeId(out var identityProblem);
        var foreignRoot = check.IsValid ? TrustDomainBinding.Refusal(certificate, identity, check.Path[^1], TrustDomain) : null;
        var authenticated = check.IsValid && foreignRoot is null && !identity.IsEmpty && identity.IsMemberOf(TrustDomain);
        if (!authenticated)
        {
            // Remembered for this leaf alone (say, refused before its root reached our bundle, then resuming the session it
            // got anyway): never a hint for anyone else, and bounded apart from the hints, so a flood of strangers cannot
            // push out what authenticated peers taught.
            _knownIntermediates.RememberStranger(certificate, sent);
        }

        if (check.Failure is { } failure)
        {
            return PeerVerdict.Reject(RejectionReasons.FromChainFailure(failure.Kind), failure.Message, identity);
        }

        if (foreignRoot is not null)
        {
            return PeerVerdict.Reject(RejectionReason.TrustDomainMismatch, foreignRoot, identity);
        }

        // A server judges only trust here (chain, EKU, CRL, the root's trust domain): what the identity may do, and whether
        // it is one at all, is answered per request with a 401/403 that names it. A client must know now whom it is talking to.
        if (side == PeerSide.Client && identity.IsEmpty)
        {
            return PeerVerdict.Reject(RejectionReason.InvalidIdentity, $"'{certificate.Subject}' has {identityProblem}");
        }

        if (side == PeerSide.Client && !identity.IsMemberOf(TrustDomain))
        {
            return PeerVerdict.Reject(RejectionReason.InvalidIdentity, $"{identity} is not in the trust domain '{TrustDomain}'", identity);
        }

        if (authenticated)
        {
            // Only a chain that validated to a root vouching for our trust domain, of a leaf with one of our IDs, teaches hints.
            _knownIntermediates.Learn(check.Path.Skip(1).Take(check.Path.Count - 2), certificate);
        }

        // Until when this verdict holds: for the cache, and for the connection it admits (judged again after it).
        var validUntil = check.Path.Min(c => new DateTimeOffset(c.NotAfter.ToUniversalTime()));
        foreach (var crl in check.Revocation.Select(r => r.Crl).OfType<RevocationList>())
        {
            if (crl.NextUpdate is { } next && !_options.AllowStaleCrl && next < validUntil)
            {
                validUntil = next;
            }
        }

        if (_options.ValidationCacheSize > 0)
        {
            if (_cache.Count >= _options.ValidationCacheSize)
            {
                _cache.Clear();
            }

            var validFrom = check.Path.Max(c => new DateTimeOffset(c.NotBefore.ToUniversalTime()));
            _cache[cacheKey] = new CachedVerdict(identity, side, validFrom, validUntil);
        }

        return CheckExpected(identity, side, expectedServer, validUntil);
    }

    /// <summary>Why the chain a peer sent is too large to be judged (<see cref="MtlsOptions.MaxPeerCertificateBytes"/>, <see cref="MtlsOptions.MaxPeerChainBytes"/>), or null.</summary>
    private string? TooLarge(X509Certificate2 leaf, IReadOnlyCollection<X509Certificate2> sent)
    {
        long total = leaf.RawDataMemory.Length;
        var largest = leaf;
        foreach (var certificate in sent)
        {
            total += certificate.RawDataMemory.Length;
            if (certificate.RawDataMemory.Length > largest.RawDataMemory.Length)
            {
                largest = certificate;
            }
        }

        if (largest.RawDataMemory.Length > _options.MaxPeerCertificateBytes)
        {
            return $"the peer sent a certificate of {largest.RawDataMemory.Length} bytes ('{Telemetry.PeerText.Cut(largest.Subject, 128)}'), more than Mtls:MaxPeerCertificateBytes ({_options.MaxPeerCertificateBytes})";
        }

        return total > _options.MaxPeerChainBytes
            ? $"the peer sent a chain of {sent.Count + 1} certificates and {total} bytes, more than Mtls:MaxPeerChainBytes ({_options.MaxPeerChainBytes})"
            : null;
    }

    /// <summary>Why <paramref name="certificate"/> is not a workload leaf (go-spiffe's X.509-SVID profile), or null when it is one.</summary>
    private static string? NotALeaf(X509Certificate2 certificate)
    {
        if (certificate.IsCertificateAuthority())
        {
            return $"'{certificate.Subject}' is a CA certificate (basicConstraints CA:true), not a workload leaf";
        }

        var usage = certificate.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault()?.KeyUsages ?? X509KeyUsageFlags.None;
        var signs = new[] { (X509KeyUsageFlags.KeyCertSign, "keyCertSign"), (X509KeyUsageFlags.CrlSign, "cRLSign") }
            .Where(u => usage.HasFlag(u.Item1)).Select(u => u.Item2).ToList();
        return signs.Count == 0 ? null
            : $"'{certificate.Subject}' has keyUsage {string.Join(" and ", signs)}: it may sign certificates or CRLs, which a workload leaf must not";
    }

    private static PeerVerdict CheckExpected(SpiffeId identity, PeerSide side, SpiffeId expectedServer, DateTimeOffset validUntil)
    {
        if (side == PeerSide.Client && !expectedServer.IsEmpty && identity != expectedServer)
        {
            return PeerVerdict.Reject(RejectionReason.ServerIdentityMismatch,
                $"expected the server to be {expectedServer} but it presented a valid certificate of {identity} (impersonation or misrouting)", identity);
        }

        return PeerVerdict.Accept(identity, validUntil);
    }

    private sealed record CachedVerdict(SpiffeId Identity, PeerSide Side, DateTimeOffset ValidFrom, DateTimeOffset ValidUntil);

    /// <inheritdoc />
    public void Dispose() => _files.Dispose();
}
