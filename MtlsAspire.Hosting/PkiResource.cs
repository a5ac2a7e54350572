using Aspire.Hosting.ApplicationModel;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Identity;

namespace MtlsAspire.Hosting;

/// <summary>
/// The private CA of the app (root → intermediate → one SPIFFE leaf per identity), shown on the dashboard with its
/// state, properties, health, console log (the lifecycle timeline) and commands.
/// </summary>
public sealed class PkiResource : Resource
{
    internal PkiResource(string name, PkiOptions options, PassphraseSource passphrase) : base(name)
    {
        Options = options;
        Passphrase = passphrase;
    }

    /// <summary>Where the PKI lives and what it issues.</summary>
    public PkiOptions Options { get; }

    internal PassphraseSource Passphrase { get; }

    /// <summary>The lifecycle (set when the resource is initialized).</summary>
    internal CertificateLifecycle? Lifecycle { get; set; }

    /// <summary>The endpoints file (set when the resource is added).</summary>
    internal EndpointsFile EndpointsFile { get; set; } = null!;

    /// <summary>Request outcomes of the traffic sources (<c>WithRequestOutcomes</c>), for the fire drill.</summary>
    internal TrafficCounter Traffic { get; } = new();

    /// <summary>The SPIFFE ID of <paramref name="service"/> in this PKI's trust domain and environment.</summary>
    public SpiffeId IdentityOf(string service) => SpiffeId.ForWorkload(
        Lifecycle?.IsReady == true ? Lifecycle.Authority.Settings.TrustDomain : Options.TrustDomain,
        Lifecycle?.IsReady == true ? Lifecycle.Authority.Settings.Environment : Options.Environment,
        service);

    /// <summary>The directory with <paramref name="service"/>'s tls.crt, tls.key, ca.crt and crl.pem.</summary>
    public string CredentialsDirectory(string service) => Options.Layout.ServiceDirectory(service);
}

/// <summary>Marks a resource that has a SPIFFE identity issued by <paramref name="Pki"/>.</summary>
/// <param name="Pki">The issuing PKI.</param>
public sealed record MtlsIdentityAnnotation(PkiResource Pki) : IResourceAnnotation;

/// <summary>Marks a resource that serves plain HTTP on a Unix domain socket (no TCP port).</summary>
/// <param name="SocketPath">The socket, in a 0700 directory.</param>
public sealed record UnixSocketAnnotation(string SocketPath) : IResourceAnnotation;
