namespace MtlsAspire.ServiceDefaults.Authorization;

/// <summary>Names of the mTLS authentication scheme, policy and claims.</summary>
public static class MtlsAuthenticationDefaults
{
    /// <summary>The authentication scheme: the verified client certificate's SPIFFE ID.</summary>
    public const string Scheme = "Mtls";

    /// <summary>The policy that applies the endpoint's caller rule.</summary>
    public const string CallerPolicy = "mtls-caller";

    /// <summary>The claim carrying the caller's SPIFFE ID.</summary>
    public const string SpiffeIdClaim = "spiffe_id";
}
