using System.Security.Authentication;

namespace MtlsAspire.CertBootstrap.Doctor;

/// <summary>What <c>doctor</c> is asked to check.</summary>
/// <param name="Url">The https endpoint; its path is what the HTTP GET asks for.</param>
public sealed record DoctorRequest(Uri Url)
{
    /// <summary>
    /// The credential directory to connect as (tls.crt, tls.key; and ca.crt, crl.pem unless <see cref="BundleFile"/> is given);
    /// null to present no certificate.
    /// </summary>
    public string? IdentityDirectory { get; init; }

    /// <summary>The trust bundle judging the server; ca.crt of <see cref="IdentityDirectory"/> when null.</summary>
    public string? BundleFile { get; init; }

    /// <summary>The CRL judging the server; crl.pem beside the bundle when null (revocation unchecked when there is none).</summary>
    public string? CrlFile { get; init; }

    /// <summary>The TLS versions to offer; TLS 1.2 and 1.3 when null.</summary>
    public SslProtocols? Protocols { get; init; }

    /// <summary>How long the TCP connect, the handshake and the HTTP answer may each take.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);
}
