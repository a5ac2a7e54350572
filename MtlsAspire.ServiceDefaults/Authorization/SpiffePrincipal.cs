using System.Security.Claims;
using MtlsAspire.Verification.Identity;

namespace MtlsAspire.ServiceDefaults.Authorization;

/// <summary>
/// The principal of a verified SPIFFE ID: its <see cref="MtlsAuthenticationDefaults.SpiffeIdClaim"/>, the
/// NameIdentifier (the ID) and the Name (the service name, or the ID), authenticated by the <c>Mtls</c> scheme.
/// Built once per connection; its SPIFFE ID claim carries the parsed ID, so that reading it does not parse it again.
/// </summary>
internal static class SpiffePrincipal
{
    public static ClaimsPrincipal Create(SpiffeId identity, string name) => new(new ClaimsIdentity(
        [
            new ParsedSpiffeIdClaim(identity),
            new Claim(ClaimTypes.NameIdentifier, identity.ToString()),
            new Claim(ClaimTypes.Name, name),
        ],
        MtlsAuthenticationDefaults.Scheme));

    /// <summary>The SPIFFE ID of <paramref name="claim"/>: the parsed one when it is ours, else parsed from its value.</summary>
    public static SpiffeId Read(Claim? claim) => claim switch
    {
        ParsedSpiffeIdClaim parsed => parsed.Identity,
        null => default,
        _ => SpiffeId.TryParse(claim.Value, out var id, out _) ? id : default,
    };

    /// <summary>A SPIFFE ID claim that keeps the ID it was made of (a clone is a plain <see cref="Claim"/>, read by parsing).</summary>
    private sealed class ParsedSpiffeIdClaim(SpiffeId identity) : Claim(MtlsAuthenticationDefaults.SpiffeIdClaim, identity.ToString())
    {
        public SpiffeId Identity { get; } = identity;
    }
}
