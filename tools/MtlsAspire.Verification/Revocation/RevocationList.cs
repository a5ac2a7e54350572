using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.Verification.Revocation;

/// <summary>One revoked certificate in a CRL.</summary>
/// <param name="Serial">The revoked serial number (unsigned).</param>
/// <param name="RevokedAt">When it was revoked.</param>
/// <param name="Reason">The CRL reason code, when the entry has one.</param>
public sealed record RevokedCertificate(BigInteger Serial, DateTimeOffset RevokedAt, X509RevocationReason? Reason);

/// <summary>
/// A parsed X.509 CRL (RFC 5280 §5) whose signature has been verified against its issuer. .NET's
/// <see cref="CertificateRevocationListBuilder"/> builds CRLs but neither verifies one nor answers membership: this does.
/// </summary>
public sealed class RevocationList
{
    private const string CrlNumberOid = "2.5.29.20";
    private const string AuthorityKeyIdentifierOid = "2.5.29.35";

    private readonly Dictionary<BigInteger, RevokedCertificate> _revoked;
    private readonly byte[] _signature;

    private RevocationList(X500DistinguishedName issuer, DateTimeOffset thisUpdate, DateTimeOffset? nextUpdate,
        BigInteger? number, byte[]? authorityKeyId, Dictionary<BigInteger, RevokedCertificate> revoked, X509Certificate2 verifiedIssuer, byte[] signature)
    {
        _signature = signature;
        Issuer = issuer;
        ThisUpdate = thisUpdate;
        NextUpdate = nextUpdate;
        Number = number;
        AuthorityKeyIdentifier = authorityKeyId;
        _revoked = revoked;
        VerifiedIssuer = verifiedIssuer;
    }

    /// <summary>The CRL issuer's name.</summary>
    public X500DistinguishedName Issuer { get; }

    /// <summary>The certificate whose key verified this CRL's signature.</summary>
    public X509Certificate2 VerifiedIssuer { get; }

    /// <summary>When the CRL was issued.</summary>
    public DateTimeOffset ThisUpdate { get; }

    /// <summary>When the next CRL is due; after this the CRL is stale.</summary>
    public DateTimeOffset? NextUpdate { get; }

    /// <summary>The CRL number extension, increasing with each CRL from the same issuer.</summary>
    public BigInteger? Number { get; }

    /// <summary>The authority key identifier, matching the issuer's subject key identifier.</summary>
    public byte[]? AuthorityKeyIdentifier { get; }

    /// <summary>Every revoked entry.</summary>
    public IReadOnlyCollection<RevokedCertificate> Entries => _revoked.Values;

    /// <summary>The entry for <paramref name="serial"/>, or null when it is not revoked by this CRL.</summary>
    public RevokedCertificate? Find(BigInteger serial) => _revoked.GetValueOrDefault(serial);

    /// <summary>The entry for <paramref name="certificate"/>'s serial, or null when it is not revoked by this CRL.</summary>
    public RevokedCertificate? Find(X509Certificate2 certificate) => Find(certificate.GetSerial());

    /// <summary>True when <paramref name="now"/> is past <see cref="NextUpdate"/>.</summary>
    public bool IsStale(DateTimeOffset now) => NextUpdate is { } next && now > next;

    /// <summary>True when this CRL speaks for certificates issued by <paramref name="issuer"/>.</summary>
    public bool IsFor(X509Certificate2 issuer) =>
        Issuer.RawData.AsSpan().SequenceEqual(issuer.SubjectName.RawData) &&
        (AuthorityKeyIdentifier is null || issuer.GetSubjectKeyIdentifier() is not { } ski || AuthorityKeyIdentifier.AsSpan().SequenceEqual(ski));

    /// <summary>
    /// Verifies a DER CRL's signature with <paramref name="issuer"/>'s public key, then parses it. Throws
    /// <see cref="CryptographicException"/> with the reason when the CRL is malformed, names another issuer, its signature
    /// does not verify, or it has a critical extension this reader does not process (in the CRL or an entry).
    /// </summary>
    public static RevocationList Load(ReadOnlyMemory<byte> der, X509Certificate2 issuer)
    {
        // The signature first, over the signed bytes as they are: the entries (a CRL may list a hundred thousand) are
        // decoded only once the issuer has vouched for them, so a CRL that does not verify costs a hash and a
        // signature check, never the work or the memory of its entries.
        var envelope = Malformed(() => ReadEnvelope(der));
        if (!envelope.Issuer.RawData.AsSpan().SequenceEqual(issuer.SubjectName.RawData))
        {
            throw new CryptographicException($"The CRL was issued by '{envelope.Issuer.Name}', not by '{issuer.Subject}'.");
        }

        if (!Signatures.Verify(envelope.TbsCertList.Span, envelope.SignatureAlgorithm, envelope.Signature, issuer, "CRL"))
        {
            throw new CryptographicException($"The CRL's signature does not verify with the key of '{issuer.Subject}': it was altered or signed by another key.");
        }

        var parsed = Malformed(() => Parse(envelope));
        return new RevocationList(parsed.Issuer, parsed.ThisUpdate, parsed.NextUpdate, parsed.Number, parsed.AuthorityKeyId, parsed.Revoked, issuer, parsed.Signature);
    }

    /// <summary>
    /// Orders CRLs of one issuer, newest last, by CRL number only (RFC 5280 §5.2.3: it increases with every CRL; a
    /// clock, thisUpdate included, is not trusted to): a higher number wins even with an older thisUpdate, and a CRL
    /// without a number sorts below every numbered one (<see cref="RevocationSet"/> refuses such CRLs anyway). Equal
    /// numbers (an issuer that signed two different CRLs under one number) are ordered the same whatever the order in the
    /// file: the one listing more revoked serials wins (a revocation is never lost to a tie), then the later thisUpdate,
    /// then the signature bytes.
    /// </summary>
    public static IComparer<RevocationList> Newness { get; } = Comparer<RevocationList>.Create((a, b) =>
        a.Number is { } x && b.Number is { } y && x != y ? x.CompareTo(y)
        : a.Number.HasValue != b.Number.HasValue ? a.Number.HasValue.CompareTo(b.Number.HasValue)
        : a._revoked.Count != b._revoked.Count ? a._revoked.Count.CompareTo(b._revoked.Count)
        : a.ThisUpdate != b.ThisUpdate ? a.ThisUpdate.CompareTo(b.ThisUpdate)
        : a._signature.AsSpan().SequenceCompareTo(b._signature));

    /// <summary>What this CRL says, for a status report.</summary>
    public CrlStatus Status() =>
        new(Issuer.Name, Number?.ToString(System.Globalization.CultureInfo.InvariantCulture), ThisUpdate, NextUpdate, _revoked.Count);

    /// <summary>
    /// What a DER CRL says, read without verifying its signature (for a status report of a CRL whose issuer is not
    /// known yet); throws <see cref="CryptographicException"/> when it is malformed.
    /// </summary>
    public static CrlStatus ReadStatus(ReadOnlyMemory<byte> der)
    {
        var parsed = Malformed(() => Parse(ReadEnvelope(der)));
        return new(parsed.Issuer.Name, parsed.Number?.ToString(System.Globalization.CultureInfo.InvariantCulture), parsed.ThisUpdate, parsed.NextUpdate,
            parsed.Revoked.Count);
    }

    /// <summary>Reads the issuer name of a DER CRL without verifying it, to pick the certificate to verify it with.</summary>
    public static X500DistinguishedName ReadIssuer(ReadOnlyMemory<byte> der) =>
        // Only as far as the issuer: the entries after it may be many.
        Malformed(() => ReadIssuerOf(new AsnReader(der, AsnEncodingRules.DER).ReadSequence().ReadEncodedValue()));

    private static T Malformed<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is AsnContentException or ArgumentException or FormatException)
        {
            throw new CryptographicException($"The CRL is malformed: {e.Message}", e);
        }
    }

    // TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL, signature AlgorithmIdentifier, issuer Name, … }
    private static X500DistinguishedName ReadIssuerOf(ReadOnlyMemory<byte> tbsCertList)
    {
        var tbs = new AsnReader(tbsCertList, AsnEncodingRules.DER).ReadSequence();
        if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
        {
            tbs.ReadInteger();
        }

        tbs.ReadSequence();
        return new X500DistinguishedName(tbs.ReadEncodedValue().Span);
    }

    /// <summary>The signed part of a CRL, as it is, its signature, and its issuer: all a signature check needs.</summary>
    private sealed record Envelope(ReadOnlyMemory<byte> TbsCertList, string SignatureAlgorithm, byte[] Signature, X500DistinguishedName Issuer);

    private sealed record ParsedCrl(
        byte[] Signature,
        X500DistinguishedName Issuer,
        DateTimeOffset ThisUpdate,
        DateTimeOffset? NextUpdate,
        BigInteger? Number,
        byte[]? AuthorityKeyId,
        Dictionary<BigInteger, RevokedCertificate> Revoked);

    // CertificateList ::= SEQUENCE { tbsCertList TBSCertList, signatureAlgorithm AlgorithmIdentifier, signatureValue BIT STRING }
    // Reads the outer structure and the issuer only; the signed part's body is left as bytes.
    private static Envelope ReadEnvelope(ReadOnlyMemory<byte> der)
    {
        var outer = new AsnReader(der, AsnEncodingRules.DER);
        var certificateList = outer.ReadSequence();
        outer.ThrowIfNotEmpty();

        var tbsBytes = certificateList.ReadEncodedValue();
        var signatureAlgorithm = certificateList.ReadSequence().ReadObjectIdentifier();
        var signature = certificateList.ReadBitString(out _);
        certificateList.ThrowIfNotEmpty();
        return new Envelope(tbsBytes, signatureAlgorithm, signature, ReadIssuerOf(tbsBytes));
    }

    private static ParsedCrl Parse(Envelope envelope)
    {
        var signatureAlgorithm = envelope.SignatureAlgorithm;
        var tbs = new AsnReader(envelope.TbsCertList, AsnEncodingRules.DER).ReadSequence();
        if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
        {
            tbs.ReadInteger(); // version v2
        }

        var innerAlgorithm = tbs.ReadSequence().ReadObjectIdentifier();
        if (innerAlgorithm != signatureAlgorithm)
        {
            throw new FormatException("the inner and outer signature algorithms differ");
        }

        var issuer = new X500DistinguishedName(tbs.ReadEncodedValue().Span);
        var thisUpdate = ReadTime(tbs);
        DateTimeOffset? nextUpdate = tbs.HasData && IsTime(tbs.PeekTag()) ? ReadTime(tbs) : null;

        var revoked = new Dictionary<BigInteger, RevokedCertificate>();
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            ReadEntries(tbs.ReadEncodedValue().Span, revoked);
        }

        BigInteger? number = null;
        byte[]? akid = null;
        if (tbs.HasData)
        {
            var extensions = tbs.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence();
            foreach (var (oid, critical, value) in ReadExtensions(extensions))
            {
                if (critical && oid is not (CrlNumberOid or AuthorityKeyIdentifierOid))
                {
                    throw UnknownCriticalExtension(oid, "the CRL", "5.2");
                }

                if (oid == CrlNumberOid)
                {
                    number = new AsnReader(value, AsnEncodingRules.DER).ReadInteger();
                }
                else if (oid == AuthorityKeyIdentifierOid)
                {
                    var aki = new AsnReader(value, AsnEncodingRules.DER).ReadSequence();
                    var keyIdTag = new Asn1Tag(TagClass.ContextSpecific, 0);
                    if (aki.HasData && aki.PeekTag().HasSameClassAndValue(keyIdTag))
                    {
                        akid = aki.ReadOctetString(keyIdTag);
                    }
                }
            }
        }

        tbs.ThrowIfNotEmpty();
        return new ParsedCrl(envelope.Signature, issuer, thisUpdate, nextUpdate, number, akid, revoked);
    }

    /// <summary>
    /// Reads revokedCertificates (SEQUENCE OF SEQUENCE { serial, revocationDate, crlEntryExtensions OPTIONAL }) with
    /// the span decoder: no reader, OID string or array per entry, since a CRL may list a hundred thousand of them.
    /// </summary>
    private static void ReadEntries(ReadOnlySpan<byte> encoded, Dictionary<BigInteger, RevokedCertificate> revoked)
    {
        AsnDecoder.ReadSequence(encoded, AsnEncodingRules.DER, out var offset, out var length, out _);
        var entries = encoded.Slice(offset, length);
        revoked.EnsureCapacity(length / 40);
        while (!entries.IsEmpty)
        {
            AsnDecoder.ReadSequence(entries, AsnEncodingRules.DER, out offset, out length, out var consumed);
            var entry = entries.Slice(offset, length);
            entries = entries[consumed..];

            var serial = new BigInteger(AsnDecoder.ReadIntegerBytes(entry, AsnEncodingRules.DER, out consumed), isUnsigned: true, isBigEndian: true);
            entry = entry[consumed..];
            var revokedAt = Asn1Tag.Decode(entry, out _).HasSameClassAndValue(new Asn1Tag(UniversalTagNumber.UtcTime))
                ? AsnDecoder.ReadUtcTime(entry, AsnEncodingRules.DER, out consumed)
                : AsnDecoder.ReadGeneralizedTime(entry, AsnEncodingRules.DER, out consumed);
            entry = entry[consumed..];
            X509RevocationReason? reason = null;
            if (!entry.IsEmpty)
            {
                AsnDecoder.ReadSequence(entry, AsnEncodingRules.DER, out offset, out length, out consumed);
                if (consumed != entry.Length)
                {
                    throw new FormatException($"the entry for serial {serial:X} has data after its extensions");
                }

                reason = ReadEntryExtensions(entry.Slice(offset, length), serial);
            }

            revoked[serial] = new RevokedCertificate(serial, revokedAt, reason);
        }
    }

    // The DER of the reasonCode OID (2.5.29.21): the one entry extension this reader processes.
    private static ReadOnlySpan<byte> ReasonCodeOidDer => [0x06, 0x03, 0x55, 0x1D, 0x15];

    private static X509RevocationReason? ReadEntryExtensions(ReadOnlySpan<byte> extensions, BigInteger serial)
    {
        X509RevocationReason? reason = null;
        while (!extensions.IsEmpty)
        {
            AsnDecoder.ReadSequence(extensions, AsnEncodingRules.DER, out var offset, out var length, out var consumed);
            var extension = extensions.Slice(offset, length);
            extensions = extensions[consumed..];

            AsnDecoder.ReadEncodedValue(extension, AsnEncodingRules.DER, out _, out _, out consumed);
            var oid = extension[..consumed];
            extension = extension[consumed..];
            var critical = false;
            if (Asn1Tag.Decode(extension, out _).HasSameClassAndValue(Asn1Tag.Boolean))
            {
                critical = AsnDecoder.ReadBoolean(extension, AsnEncodingRules.DER, out consumed);
                extension = extension[consumed..];
            }

            var value = AsnDecoder.ReadOctetString(extension, AsnEncodingRules.DER, out consumed);
            if (consumed != extension.Length)
            {
                throw new FormatException($"an extension of the entry for serial {serial:X} has data after its value");
            }

            if (oid.SequenceEqual(ReasonCodeOidDer))
            {
                reason = AsnDecoder.ReadEnumeratedValue<X509RevocationReason>(value, AsnEncodingRules.DER, out _);
            }
            else if (critical)
            {
                throw UnknownCriticalExtension(AsnDecoder.ReadObjectIdentifier(oid, AsnEncodingRules.DER, out _), $"the entry for serial {serial:X}", "5.3");
            }
        }

        return reason;
    }

    private static List<(string Oid, bool Critical, byte[] Value)> ReadExtensions(AsnReader extensions)
    {
        var list = new List<(string, bool, byte[])>();
        while (extensions.HasData)
        {
            var extension = extensions.ReadSequence();
            var oid = extension.ReadObjectIdentifier();
            var critical = extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && extension.ReadBoolean();
            list.Add((oid, critical, extension.ReadOctetString()));
        }

        return list;
    }

    // RFC 5280 §5.2/§5.3: a CRL with a critical extension the reader does not process must not be used to decide
    // revocation (it may be a delta CRL, an indirect CRL, or one scoped to some certificates only).
    private static CryptographicException UnknownCriticalExtension(string oid, string where, string section) =>
        new($"The CRL is refused: {where} has the critical extension {oid}, which this reader does not process " +
            $"(RFC 5280 §{section}: such a CRL must not be used to decide revocation).");

    private static bool IsTime(Asn1Tag tag) =>
        tag.HasSameClassAndValue(new Asn1Tag(UniversalTagNumber.UtcTime)) || tag.HasSameClassAndValue(new Asn1Tag(UniversalTagNumber.GeneralizedTime));

    private static DateTimeOffset ReadTime(AsnReader reader) =>
        reader.PeekTag().HasSameClassAndValue(new Asn1Tag(UniversalTagNumber.UtcTime))
            ? reader.ReadUtcTime()
            : reader.ReadGeneralizedTime();
}
