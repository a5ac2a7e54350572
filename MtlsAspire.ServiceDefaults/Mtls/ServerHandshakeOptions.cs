using System.Net;
using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// The mTLS endpoint's handshake options, built once per credential generation and shared by every handshake of that
/// generation (as Kestrel's own SNI selector shares its options): the certificate context, the chain policy with
/// ca.crt's roots, and the validation callback. A new generation gets new options at its first handshake, so rotations
/// and new CRLs apply to new handshakes without a restart. The callback finds its connection through the
/// <see cref="SslStream"/> it is called for: for the peer address of a refusal, and to put on the connection the
/// verdict its requests read (<see cref="ConnectionTrust"/>: the peer's identity and principal, and until when the verdict holds).
/// </summary>
internal sealed class ServerHandshakeOptions(MtlsCredentialStore store, MtlsOptions options, MtlsTelemetry telemetry, ILogger logger)
{
    private readonly ConditionalWeakTable<SslStream, ConnectionContext> _connections = [];
    private Generation? _current;

    /// <summary>Kestrel's <see cref="TlsHandshakeCallbackOptions.OnConnection"/>.</summary>
    public ValueTask<SslServerAuthenticationOptions> OnConnection(TlsHandshakeCallbackContext context)
    {
        _connections.AddOrUpdate(context.SslStream, context.Connection);
        return ValueTask.FromResult(OptionsFor(store.Current, MayResume(context.ClientHelloInfo.ServerName)));
    }

    /// <summary>
    /// Whether a client that sent <paramref name="serverName"/> (SNI) in its hello can resume a session later. A client
    /// that dialled an IP address sends no name (or, some, the address): the .NET client never resumes to an IP literal,
    /// so the session tickets every full TLS 1.3 handshake ends with would be made, encrypted (the client's certificate
    /// inside) and sent for nothing. Measured, they cost more than the resumption-less path's own SSL context.
    /// </summary>
    internal static bool MayResume(string? serverName) => !string.IsNullOrEmpty(serverName) && !IPAddress.TryParse(serverName, out _);

    /// <summary>
    /// The options of <paramref name="credentials"/>' generation, built at its first handshake, then shared: with session
    /// tickets (as <see cref="MtlsOptions.AllowTlsResumption"/> says) when <paramref name="mayResume"/>, without otherwise.
    /// </summary>
    internal SslServerAuthenticationOptions OptionsFor(MtlsCredentials credentials, bool mayResume = true)
    {
        var current = Volatile.Read(ref _current);
        if (current is null || !ReferenceEquals(current.Credentials, credentials))
        {
            // Two first handshakes of a generation may both build; either result is right, the last one stays.
            var resumable = Create(credentials, options.AllowTlsResumption);
            current = new Generation(credentials, resumable, options.AllowTlsResumption ? Create(credentials, allowResume: false) : resumable);
            Volatile.Write(ref _current, current);
        }

        return mayResume ? current.Options : current.WithoutResumption;
    }

    private SslServerAuthenticationOptions Create(MtlsCredentials credentials, bool allowResume) => new()
    {
        ServerCertificateContext = credentials.CertificateContext,
        ClientCertificateRequired = true,
        EnabledSslProtocols = options.EnabledProtocols,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        CertificateChainPolicy = credentials.CreateChainPolicy(MtlsAspire.Verification.Certificates.CertificateFacts.ClientAuthOid),
        ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
        AllowTlsResume = allowResume,
        RemoteCertificateValidationCallback = (sender, certificate, chain, _) => Validate(credentials, sender as SslStream, certificate, chain),
    };

    private bool Validate(MtlsCredentials credentials, SslStream? stream, X509Certificate? certificate, X509Chain? chain)
    {
        ConnectionContext? connection = null;
        if (stream is not null)
        {
            _connections.TryGetValue(stream, out connection);
        }

        // The address is only for the log of a refusal: formatted then.
        var peer = new PeerCertificate(certificate as X509Certificate2, MtlsServerExtensions.SentIntermediates(chain), string.Empty) { Chain = chain };
        var (verdict, judge) = store.Judge(credentials, peer, PeerSide.Server);
        if (!verdict.Accepted)
        {
            MtlsServerExtensions.Report(logger, telemetry, judge, PeerSide.Server,
                peer with { PeerAddress = connection?.RemoteEndPoint?.ToString() ?? "unknown" }, verdict);
            return false;
        }

        if (connection is not null && peer.Certificate is { } accepted)
        {
            // The handshake runs alone on its connection: the one time the connection's features are written. Every request
            // of the connection reads this verdict (Kestrel's request features fall back to the connection's). A resumed
            // or repeated validation of the same connection starts it afresh.
            connection.Features.Set(new ConnectionTrust(connection, accepted, verdict.Identity, judge.TrustDomain, judge.Generation, verdict.ValidUntil));
        }

        return true;
    }

    private sealed record Generation(MtlsCredentials Credentials, SslServerAuthenticationOptions Options, SslServerAuthenticationOptions WithoutResumption);
}
