namespace MtlsAspire.CertBootstrap.Doctor;

/// <summary>
/// What <c>doctor</c> found; each value is the command's exit code. The CLI's own codes stay: 1 the doctor itself
/// could not run (a credential or bundle file is unreadable), 2 the command line is wrong.
/// <list type="table">
/// <listheader><term>exit</term><description>outcome</description></listheader>
/// <item><term>0</term><description><see cref="Ok"/>: handshake done, the server's certificate is valid, an HTTP answer other than 401/403.</description></item>
/// <item><term>10</term><description><see cref="CannotConnect"/>: DNS failed, nothing listening, or no TCP answer.</description></item>
/// <item><term>11</term><description><see cref="TlsVersionMismatch"/>: the handshake failed before any certificate because no TLS version was common.</description></item>
/// <item><term>12</term><description><see cref="HandshakeFailed"/>: the handshake failed before any certificate for another reason (not TLS, no common cipher, timeout).</description></item>
/// <item><term>13</term><description><see cref="ServerUnknownCa"/>: the server's certificate is from a CA not in our bundle.</description></item>
/// <item><term>14</term><description><see cref="ServerChainIncomplete"/>: the server did not send the intermediate its leaf needs.</description></item>
/// <item><term>15</term><description><see cref="ServerCertificateExpired"/>: the server's certificate (or its chain) expired.</description></item>
/// <item><term>16</term><description><see cref="ServerCertificateNotYetValid"/>: the server's certificate is not valid yet (or a clock is wrong).</description></item>
/// <item><term>17</term><description><see cref="ServerCertificateLacksServerAuth"/>: the server's leaf lacks the serverAuth extended key usage.</description></item>
/// <item><term>18</term><description><see cref="HostMismatch"/>: the host we asked for is not among the certificate's DNS/IP SANs.</description></item>
/// <item><term>19</term><description><see cref="ServerCertificateRevoked"/>: the server's certificate is revoked per the CRL.</description></item>
/// <item><term>20</term><description><see cref="ServerCertificateInvalid"/>: the server's chain is invalid otherwise (bad signature, revocation cannot be checked).</description></item>
/// <item><term>21</term><description><see cref="ClientCertificateRefused"/>: the server refused our certificate.</description></item>
/// <item><term>22</term><description><see cref="ClientCertificateRequired"/>: the server requires a client certificate and none was given (no <c>--as</c>).</description></item>
/// <item><term>23</term><description><see cref="ClientCertificateNotRequested"/>: warning: <c>--as</c> was given but the server did not ask for a certificate.</description></item>
/// <item><term>24</term><description><see cref="Unauthenticated"/>: HTTP 401, the server saw no valid identity.</description></item>
/// <item><term>25</term><description><see cref="Forbidden"/>: HTTP 403, our identity is not allowed to call that path.</description></item>
/// <item><term>26</term><description><see cref="NoHttpResponse"/>: the handshake succeeded but no HTTP answer came (closed, timed out, not HTTP).</description></item>
/// </list>
/// </summary>
public enum DoctorOutcome
{
    /// <summary>Handshake done, the server's certificate valid, and an HTTP status other than 401/403.</summary>
    Ok = 0,

    /// <summary>The name did not resolve, nothing listens on the port, or the TCP connect timed out.</summary>
    CannotConnect = 10,

    /// <summary>The handshake failed before any certificate because the server and we share no TLS version.</summary>
    TlsVersionMismatch = 11,

    /// <summary>The handshake failed before any certificate for another reason (not a TLS port, no common cipher, timeout).</summary>
    HandshakeFailed = 12,

    /// <summary>The server's certificate chains to a CA our trust bundle does not hold.</summary>
    ServerUnknownCa = 13,

    /// <summary>The server sent its leaf without the intermediate needed to reach a trusted root.</summary>
    ServerChainIncomplete = 14,

    /// <summary>The server's certificate (or a CA in its chain) is past its notAfter.</summary>
    ServerCertificateExpired = 15,

    /// <summary>The server's certificate is before its notBefore: issued for the future, or a clock is wrong.</summary>
    ServerCertificateNotYetValid = 16,

    /// <summary>The server's leaf lacks the serverAuth extended key usage.</summary>
    ServerCertificateLacksServerAuth = 17,

    /// <summary>The host we asked for is not among the server certificate's DNS/IP SANs.</summary>
    HostMismatch = 18,

    /// <summary>The server's certificate is listed in its issuer's CRL.</summary>
    ServerCertificateRevoked = 19,

    /// <summary>The server's chain is invalid for another reason (signature, constraints, revocation cannot be checked).</summary>
    ServerCertificateInvalid = 20,

    /// <summary>The server accepted the handshake up to our certificate, then refused it.</summary>
    ClientCertificateRefused = 21,

    /// <summary>The server asked for a client certificate and we had none to give (no <c>--as</c>).</summary>
    ClientCertificateRequired = 22,

    /// <summary>A warning: we had an identity, but the server never asked for a client certificate.</summary>
    ClientCertificateNotRequested = 23,

    /// <summary>HTTP 401: the server saw no valid identity.</summary>
    Unauthenticated = 24,

    /// <summary>HTTP 403: the server knows who we are and does not allow us that path.</summary>
    Forbidden = 25,

    /// <summary>The handshake succeeded but no HTTP answer came back.</summary>
    NoHttpResponse = 26,
}
