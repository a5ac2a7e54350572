namespace MtlsAspire.Dashboard.Tests;

/// <summary>
/// The snapshot property names of MtlsAspire.Hosting (MtlsIdentityBuilderExtensions.Properties and
/// MtlsPkiBuilderExtensions.Properties, internal there), and the display names the dashboard shows them under.
/// </summary>
internal static class PropertyNames
{
    public const string SpiffeId = "mtls.spiffe_id";
    public const string Serial = "mtls.certificate.serial";
    public const string NotAfter = "mtls.certificate.not_after";
    public const string Generation = "mtls.certificate.generation";
    public const string RootSerial = "pki.root.serial";

    public static class Display
    {
        public const string SpiffeId = "SPIFFE ID";
        public const string Serial = "Certificate serial";
        public const string NotAfter = "Certificate expires";
        public const string Generation = "Certificate generation";
        public const string TrustDomain = "Trust domain";
        public const string IntermediateSerial = "Intermediate serial";
        public const string CrlNumber = "CRL number";
        public const string Operation = "Operation";
        public const string RootRotation = "Root rotation";
        public const string LoadedGeneration = "Loaded generation";
        public const string ServingSerial = "Serving serial";
        public const string TrustedRoots = "Trusted roots";
        public const string ExpiryState = "Expiry";
    }
}
