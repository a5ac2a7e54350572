using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Certificates;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// Intermediates this service knows, as path-building hints for chains whose peer sent only its leaf (a resumed TLS 1.3
/// session re-validates the peer without the intermediates it sent the first time, and the authentication handler sees
/// only the leaf). Trust still needs a root of ca.crt. Who may add what:
/// <list type="bullet">
/// <item><b>Ours</b> (<see cref="AddOwn"/>): the intermediates of our own tls.crt, from every generation loaded (the
/// newest <c>16</c>). Never displaced by learned ones, and first in every snapshot, so path building prefers them.</item>
/// <item><b>Learned</b> (<see cref="Learn"/>): intermediates of a peer chain that fully validated to a root vouching for
/// our trust domain, whose leaf has a SPIFFE ID of our trust domain: only an authenticated peer of ours teaches one.
/// Bounded (<c>64</c>, oldest out); one whose subject is that of an intermediate of ours but is another certificate is
/// never learned.</item>
/// <item><b>Strangers' chains</b> (<see cref="RememberStranger"/>): what a leaf sent while it was not authenticated
/// (refused, or of another trust domain), per leaf. Only what could be its chain is kept: at most 2 CA certificates,
/// the leaf's issuer and that one's issuer, matched by name, each no larger than <c>Mtls:MaxPeerCertificateBytes</c>; kept
/// as bytes, not as certificates with native handles. All of them together stay within a byte budget
/// (<c>Mtls:StrangerChainBudgetBytes</c>: their DER plus <see cref="StrangerEntryOverheadBytes"/> per leaf), oldest out.
/// Never a hint for another leaf and never in a snapshot; tried for that leaf only when the hints alone do not build its
/// chain (a peer refused before its root reached our bundle, resuming the session it got then). A flood of strangers can
/// push out only other strangers' entries.</item>
/// </list>
/// Safe for concurrent handshakes: changes take a lock and publish a new snapshot; readers of the hints never lock.
/// </summary>
internal sealed class KnownIntermediates(long strangerBudgetBytes, int maxCertificateBytes)
{
    /// <summary>
    /// What one remembered stranger costs besides its certificates' DER, as the budget counts it: the key (a SHA-256 in
    /// hex), the list node, the dictionary entry and the arrays (about 250 bytes on 64-bit .NET).
    /// </summary>
    internal const int StrangerEntryOverheadBytes = 256;

    private const int OwnCapacity = 16;
    private const int LearnedCapacity = 64;
    private const int MaxSentPerLeaf = 2;
    private readonly Lock _lock = new();
    private readonly List<X509Certificate2> _own = [];
    private readonly List<X509Certificate2> _learned = [];
    private readonly Lock _strangerLock = new();
    private readonly Dictionary<string, LinkedListNode<Stranger>> _strangers = new(StringComparer.Ordinal);
    private readonly LinkedList<Stranger> _strangerOrder = new();
    private long _strangerBytes;
    private int _strangerCount;
    private X509Certificate2[] _snapshot = [];

    /// <summary>How many intermediates were learned, of how many strangers a chain is remembered, and the bytes those chains count for.</summary>
    public (int Learned, int Strangers, long StrangerBytes) Counts
    {
        get
        {
            int learned;
            lock (_lock)
            {
                learned = _learned.Count;
            }

            lock (_strangerLock)
            {
                return (learned, _strangers.Count, _strangerBytes);
            }
        }
    }

    /// <summary>Ours first (newest first), then the learned ones: the hints for every chain.</summary>
    public X509Certificate2[] Snapshot() => Volatile.Read(ref _snapshot);

    /// <summary>The intermediates of our own tls.crt.</summary>
    public void AddOwn(IEnumerable<X509Certificate2> intermediates) => Change(intermediates, own: true);

    /// <summary>The intermediates of a chain that validated, of a leaf authenticated in our trust domain (which is forgotten as a stranger).</summary>
    public void Learn(IEnumerable<X509Certificate2> intermediates, X509Certificate2 leaf)
    {
        if (Volatile.Read(ref _strangerCount) > 0)
        {
            var key = KeyOf(leaf);
            lock (_strangerLock)
            {
                if (_strangers.TryGetValue(key, out var node))
                {
                    Forget(node);
                }
            }
        }

        Change(intermediates, own: false);
    }

    /// <summary>
    /// What <paramref name="leaf"/> sent while not authenticated, as far as it could be the leaf's chain; nothing when it
    /// sent no such CA certificate, or when it would not fit the budget even alone.
    /// </summary>
    public void RememberStranger(X509Certificate2 leaf, IReadOnlyCollection<X509Certificate2> sent)
    {
        if (strangerBudgetBytes <= 0 || sent.Count == 0)
        {
            return;
        }

        var candidates = ChainCandidates(leaf, sent);
        var cost = StrangerEntryOverheadBytes + candidates.Sum(c => (long)c.Length);
        if (candidates.Count == 0 || cost > strangerBudgetBytes)
        {
            return;
        }

        var key = KeyOf(leaf);
        lock (_strangerLock)
        {
            if (_strangers.ContainsKey(key))
            {
                return;
            }

            // Oldest first out, as few as make room: a flood pushes out old strangers gradually instead of emptying the map at once.
            while (_strangerBytes + cost > strangerBudgetBytes && _strangerOrder.First is { } oldest)
            {
                Forget(oldest);
            }

            _strangers.Add(key, _strangerOrder.AddLast(new Stranger(key, [.. candidates], cost)));
            _strangerBytes += cost;
            Volatile.Write(ref _strangerCount, _strangers.Count);
        }
    }

    /// <summary>What <paramref name="leaf"/> sent while not authenticated (new certificate objects, the caller's to keep), or empty.</summary>
    public IReadOnlyList<X509Certificate2> SentByStranger(X509Certificate2 leaf)
    {
        if (Volatile.Read(ref _strangerCount) == 0)
        {
            return [];
        }

        var key = KeyOf(leaf);
        byte[][] sent;
        lock (_strangerLock)
        {
            if (!_strangers.TryGetValue(key, out var node))
            {
                return [];
            }

            sent = node.Value.Certificates;
        }

        return [.. sent.Select(der => X509CertificateLoader.LoadCertificate(der))];
    }

    /// <summary>
    /// The CA certificates of <paramref name="sent"/> that could make the chain of <paramref name="leaf"/>: its issuer by
    /// name, then that one's issuer, each of a sane size. Bogus "CAs" with other names are not worth a byte.
    /// </summary>
    private List<byte[]> ChainCandidates(X509Certificate2 leaf, IReadOnlyCollection<X509Certificate2> sent)
    {
        var candidates = new List<byte[]>(MaxSentPerLeaf);
        var current = leaf;
        while (candidates.Count < MaxSentPerLeaf && !SameName(current.SubjectName, current.IssuerName))
        {
            var issuer = sent.FirstOrDefault(c => c.RawDataMemory.Length <= maxCertificateBytes && SameName(c.SubjectName, current.IssuerName)
                && c.IsCertificateAuthority() && !candidates.Any(k => k.AsSpan().SequenceEqual(c.RawDataMemory.Span)));
            if (issuer is null)
            {
                break;
            }

            candidates.Add(issuer.RawDataMemory.ToArray());
            current = issuer;
        }

        return candidates;
    }

    private void Forget(LinkedListNode<Stranger> node)
    {
        _strangerOrder.Remove(node);
        _strangers.Remove(node.Value.Key);
        _strangerBytes -= node.Value.Bytes;
        Volatile.Write(ref _strangerCount, _strangers.Count);
    }

    private void Change(IEnumerable<X509Certificate2> intermediates, bool own)
    {
        var candidates = intermediates.Where(c => c.IsCertificateAuthority()).ToList();
        if (!own)
        {
            // The common case, every validated handshake: nothing new, and no lock.
            var known = Snapshot();
            candidates.RemoveAll(c => known.Any(k => SameCertificate(k, c)));
        }

        if (candidates.Count == 0)
        {
            return;
        }

        var added = false;
        lock (_lock)
        {
            foreach (var candidate in candidates)
            {
                if (own && !_own.Any(o => SameCertificate(o, candidate)))
                {
                    _learned.RemoveAll(l => SameCertificate(l, candidate));
                    _own.Add(candidate);
                    if (_own.Count > OwnCapacity)
                    {
                        _own.RemoveAt(0);
                    }

                    added = true;
                }
                else if (!own && !_own.Concat(_learned).Any(k => SameCertificate(k, candidate))
                    && !_own.Any(o => SameName(o.SubjectName, candidate.SubjectName)))
                {
                    // A copy: the chain it came from may be SslStream's, whose certificates are disposed after the handshake.
                    _learned.Add(X509CertificateLoader.LoadCertificate(candidate.RawDataMemory.Span));
                    if (_learned.Count > LearnedCapacity)
                    {
                        _learned.RemoveAt(0);
                    }

                    added = true;
                }
            }

            if (added)
            {
                Volatile.Write(ref _snapshot, [.. Enumerable.Reverse(_own), .. _learned]);
            }
        }
    }

    private static bool SameCertificate(X509Certificate2 a, X509Certificate2 b) => a.RawDataMemory.Span.SequenceEqual(b.RawDataMemory.Span);

    private static bool SameName(X500DistinguishedName a, X500DistinguishedName b) => a.RawData.AsSpan().SequenceEqual(b.RawData);

    private static string KeyOf(X509Certificate2 leaf) => leaf.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256);

    /// <summary>One remembered stranger: its leaf's key, the DER of what it sent that could be its chain, and what it counts for.</summary>
    private sealed record Stranger(string Key, byte[][] Certificates, long Bytes);
}
