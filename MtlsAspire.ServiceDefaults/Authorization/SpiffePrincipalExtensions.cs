using System.Security.Claims;
using MtlsAspire.Verification.Identity;

namespace MtlsAspire.ServiceDefaults.Authorization;

/// <summary>Reads the caller's SPIFFE ID from an authenticated principal.</summary>
public static class SpiffePrincipalExtensions
{
    /// <summary>The caller's SPIFFE ID, or <c>default</c> when the principal has none.</summary>
    public static SpiffeId GetSpiffeId(this ClaimsPrincipal principal) => SpiffePrincipal.Read(principal.FindFirst(MtlsAuthenticationDefaults.SpiffeIdClaim));
}
