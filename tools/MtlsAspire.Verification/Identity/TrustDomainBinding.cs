using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Certificates;

namespace MtlsAspire.Verification.Identity;

/// <summary>
/// Which trust domain a root of the trust bundle vouches for. Per SPIFFE a trust bundle belongs to one trust domain,
/// yet a <c>ca.crt</c> may hold roots of several (federation, or a root added by mistake). The rule:
/// <list type="bullet">
/// <item>A root <b>marked</b> with a URI SAN that is a SPIFFE ID without a path, <c>spiffe://{trust-domain}</c> (the
/// X.509-SVID spec allows it on signing certificates; CertBootstrap puts it on every root it makes), is bound to the
/// trust domain(s) it names, and vouches for no other.</item>
/// <item>A root with no such URI SAN (<b>unmarked</b>: roots CertBootstrap made before it marked them, cert-manager's
/// self-signed root, an external CA) is taken as a root of the configured trust domain, as every root of the bundle
/// was before this rule: the bundle is the configured trust domain's. Mark the roots of any other trust domain.</item>
/// </list>
/// A SPIFFE ID of the configured trust domain is accepted only on a chain that ends at a root bound to it. IDs of other
/// trust domains are never accepted as ours anyway (401 on a server, invalid-identity on a client).
/// </summary>
public static class TrustDomainBinding
{
    private const string SubjectAltNameOid = "2.5.29.17";
    private const string Scheme = "spiffe://";

    /// <summary>
    /// The subject alternative name extension that marks a root as <paramref name="trustDomain"/>'s: exactly
    /// <c>spiffe://{trust-domain}</c> (<see cref="SubjectAlternativeNameBuilder.AddUri"/> would write it with a trailing '/').
    /// </summary>
    public static X509Extension MarkerExtension(string trustDomain)
    {
        var id = SpiffeId.Parse(Scheme + trustDomain);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteCharacterString(UniversalTagNumber.IA5String, id.ToString(), new Asn1Tag(TagClass.ContextSpecific, 6));
        }

        return new X509Extension(SubjectAltNameOid, writer.Encode(), critical: false);
    }

    /// <summary>
    /// The trust domains <paramref name="root"/> names in URI SANs <c>spiffe://{trust-domain}</c> (also read with the
    /// trailing '/' other tools write); empty for an unmarked root.
    /// </summary>
    public static IReadOnlyList<string> MarkedTrustDomains(this X509Certificate2 root) =>
        [.. root.GetUriNames()
            .Select(uri => uri.StartsWith(Scheme, StringComparison.Ordinal) && uri.IndexOf('/', Scheme.Length) == uri.Length - 1 ? uri[..^1] : uri)
            .Select(uri => SpiffeId.TryParse(uri, out var id, out _) && id.Path.Length == 0 ? id.TrustDomain : null)
            .OfType<string>()
            .Distinct(StringComparer.Ordinal)];

    /// <summary>True when <paramref name="root"/> vouches for IDs of <paramref name="trustDomain"/>, the configured one (marked for it, or unmarked).</summary>
    public static bool VouchesFor(this X509Certificate2 root, string trustDomain) =>
        root.MarkedTrustDomains() is var marked && (marked.Count == 0 || marked.Contains(trustDomain, StringComparer.Ordinal));

    /// <summary>
    /// Why <paramref name="leaf"/>, claiming <paramref name="identity"/> on a chain that ends at <paramref name="root"/>, may not
    /// speak for <paramref name="trustDomain"/> (the configured one); null when it may, or when it claims no ID of it.
    /// </summary>
    public static string? Refusal(X509Certificate2 leaf, SpiffeId identity, X509Certificate2 root, string trustDomain)
    {
        if (identity.IsEmpty || !identity.IsMemberOf(trustDomain) || root.VouchesFor(trustDomain))
        {
            return null;
        }

        var marks = string.Join(", ", root.MarkedTrustDomains().Select(t => $"spiffe://{t}"));
        return $"'{leaf.Subject}' (serial {leaf.SerialNumber}) claims {identity}, but its chain ends at the root '{root.Subject}' " +
            $"(serial {root.SerialNumber}), which its URI SAN {marks} binds to another trust domain: a root vouches only for its own " +
            $"trust domain, and '{trustDomain}' needs one of its own roots (or an unmarked one)";
    }
}
