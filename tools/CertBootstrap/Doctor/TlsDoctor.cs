using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Doctor;

/// <summary>
/// <c>doctor</c>: connects to an endpoint as a service identity (or as none), like <c>openssl s_client</c>, and says in
/// words which side refused what and why. A plain TCP connect first (so "cannot connect" is never mistaken for TLS),
/// then the handshake over <see cref="SslStream"/> judged with <see cref="ChainCheck"/> (never accepting an invalid
/// certificate), then one HTTP/1.1 GET of the URL's path for the status and the server's clock. Keys are never printed.
/// </summary>
public sealed class TlsDoctor
{
    private const SslProtocols DefaultProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
    private static readonly SslProtocols[] s_probedVersions = [SslProtocols.Tls12, SslProtocols.Tls13];

    private readonly DoctorRequest _request;
    private readonly TimeProvider _time;
    private readonly List<string> _lines = [];
    private readonly ServiceCredentials? _identity;
    private readonly ChainCheck? _identityCheck;
    private readonly IReadOnlyList<X509Certificate2> _roots;
    private readonly RevocationSet _revocation;
    private readonly string _host;

    private TlsDoctor(DoctorRequest request, TimeProvider time, ServiceCredentials? identity, IReadOnlyList<X509Certificate2> roots, RevocationSet revocation)
    {
        _request = request;
        _time = time;
        _identity = identity;
        _roots = roots;
        _revocation = revocation;
        _host = request.Url.DnsSafeHost;
        // Our own certificate judged as the server will judge it (its roots are, in one trust domain, our bundle's).
        _identityCheck = identity is null ? null : ChainCheck.Verify(identity.Leaf, identity.Intermediates, roots, identity.Revocation, time.GetUtcNow(), CertificateFacts.ClientAuthOid);
    }

    private SslProtocols Offered => _request.Protocols ?? DefaultProtocols;

    /// <summary>The trust domain of our identity, whose IDs only its own roots vouch for; null without one (the server's own is taken).</summary>
    private string? TrustDomain => _identity?.SpiffeId is { IsEmpty: false } id ? id.TrustDomain : null;

    /// <summary>
    /// Runs the diagnosis. Throws <see cref="IOException"/>, <see cref="InvalidDataException"/> or
    /// <see cref="System.Security.Cryptography.CryptographicException"/> naming the file when the identity, bundle or CRL
    /// cannot be read; every network outcome is in the report.
    /// </summary>
    public static async Task<DoctorReport> RunAsync(DoctorRequest request, TimeProvider time, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(time);
        var bundleFile = request.BundleFile
            ?? (request.IdentityDirectory is { } d ? Path.Combine(d, CredentialFiles.BundleFileName) : throw new ArgumentException("give --bundle FILE, or --as DIR whose ca.crt is the bundle"));
        var crlFile = request.CrlFile ?? Beside(bundleFile, CredentialFiles.CrlFileName);
        // With --bundle, the directory needs only tls.crt and tls.key: our own certificate is judged by the same bundle and CRL.
        var identity = request.IdentityDirectory is { } directory ? LoadIdentity(directory, request.BundleFile, request.BundleFile is null ? null : crlFile) : null;
        try
        {
            var roots = Pem.ReadCertificates(File.ReadAllText(bundleFile), bundleFile);
            var revocation = crlFile is null ? RevocationSet.Empty : RevocationSet.Load(File.ReadAllText(crlFile), roots, crlFile);
            var doctor = new TlsDoctor(request, time, identity, roots, revocation);
            doctor.DescribeSetup(bundleFile, crlFile);
            return await doctor.DiagnoseAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            identity?.Dispose();
        }
    }

    private static ServiceCredentials LoadIdentity(string directory, string? bundleFile, string? crlFile)
    {
        if (!File.Exists(Path.Combine(directory, CredentialFiles.CertificateFileName)))
        {
            throw new IOException($"{Path.GetFullPath(directory)} is not a credential directory: it has no {CredentialFiles.CertificateFileName}.");
        }

        return ServiceCredentials.Load(new CredentialDirectory(directory, bundleFile, crlFile));
    }

    private static string? Beside(string file, string name)
    {
        var path = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file))!, name);
        return File.Exists(path) ? path : null;
    }

    private void DescribeSetup(string bundleFile, string? crlFile)
    {
        var now = _time.GetUtcNow();
        Line("doctor", $"{_request.Url} offering {Versions(Offered)}, {(_identity is null ? "as no identity (no --as)" : $"as {_identity.SpiffeId}")}");
        if (_identity is { } identity)
        {
            var leaf = identity.Leaf;
            var verdict = _identityCheck!.IsValid ? "valid here" : $"NOT valid here: {_identityCheck.Failure!.Message}";
            Line("identity", Invariant($"'{leaf.Subject}', serial {leaf.SerialNumber}, valid {leaf.NotBefore.ToUniversalTime():u} → {leaf.NotAfter.ToUniversalTime():u}; tls.crt holds the leaf + {identity.Intermediates.Count} intermediate(s); {verdict}"));
        }

        Line("trust", $"{bundleFile}: {Names(_roots)}; CRL {crlFile ?? "none (revocation of the server is not checked)"}");
        Line("clock", Invariant($"this machine: {now.UtcDateTime:u}"));
    }

    private async Task<DoctorReport> DiagnoseAsync(CancellationToken cancellationToken)
    {
        var port = _request.Url.Port;
        TcpClient tcp;
        try
        {
            tcp = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            var why = e.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => $"nothing listens on {_host}:{port} (connection refused)",
                SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData => $"the name '{_host}' does not resolve ({e.Message})",
                _ => $"{_host}:{port}: {e.Message}",
            };
            return Fail(DoctorOutcome.CannotConnect, $"cannot connect: {why}");
        }
        catch (TimeoutException)
        {
            return Fail(DoctorOutcome.CannotConnect, $"cannot connect: no TCP answer from {_host}:{port} within {Durations.Describe(_request.Timeout)} (a firewall, or the wrong address)");
        }

        using (tcp)
        {
            var remote = (IPEndPoint)tcp.Client.RemoteEndPoint!;
            Line("tcp", $"connected to {(remote.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(remote.Address.MapToIPv4(), remote.Port) : remote)}");
            return await HandshakeAndGetAsync(tcp, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<TcpClient> ConnectAsync(CancellationToken cancellationToken)
    {
        var tcp = new TcpClient();
        try
        {
            await WithTimeoutAsync(token => tcp.ConnectAsync(_host, _request.Url.Port, token).AsTask(), cancellationToken).ConfigureAwait(false);
            return tcp;
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    private async Task<DoctorReport> HandshakeAndGetAsync(TcpClient tcp, CancellationToken cancellationToken)
    {
        var judge = new ServerCertificateJudge(_roots, _revocation, _time, TrustDomain);
        var observer = new CertificateRequestObserver();
        using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
        try
        {
            await WithTimeoutAsync(token => tls.AuthenticateAsClientAsync(ClientOptions(Offered, judge, observer, presentIdentity: true), token), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or TimeoutException)
        {
            return await HandshakeFailedAsync(e, judge, observer, cancellationToken).ConfigureAwait(false);
        }

        Line("tls", $"{Version(tls.SslProtocol)}, {tls.NegotiatedCipherSuite}, ALPN {(tls.NegotiatedApplicationProtocol.Protocol.IsEmpty ? "none" : tls.NegotiatedApplicationProtocol.ToString())}");
        DescribeServer(judge);
        Line("chain", $"valid: {string.Join(" → ", judge.Check!.Path.Select(c => c.GetNameInfo(X509NameType.SimpleName, forIssuer: false)))}; {DescribeRevocation(judge.Check)}");
        var asked = _identity is null ? observer.Requested : tls.LocalCertificate is not null;
        DescribeClientCertificate(asked, observer);

        HttpAnswer? answer;
        string? closedWith = null;
        try
        {
            answer = await WithTimeoutAsync(token => HttpProbe.GetAsync(tls, _request.Url, token), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or AuthenticationException)
        {
            answer = null;
            closedWith = TlsAlert.Describe(e);
        }
        catch (InvalidDataException e)
        {
            return Fail(DoctorOutcome.NoHttpResponse, $"the handshake succeeded but {e.Message}");
        }
        catch (TimeoutException)
        {
            return Fail(DoctorOutcome.NoHttpResponse, $"the handshake succeeded but no HTTP answer came within {Durations.Describe(_request.Timeout)}");
        }

        if (answer is null)
        {
            var closed = closedWith is null ? "closed the connection without an HTTP answer and without a TLS alert" : $"ended the connection: {closedWith}";
            if (_identity is not null && asked)
            {
                return await ClientCertificateRefusedAsync($"after the handshake the server {closed}", cancellationToken).ConfigureAwait(false);
            }

            return asked
                ? Fail(DoctorOutcome.ClientCertificateRequired, $"the server requires a client certificate but none was given (no --as); it {closed}")
                : Fail(DoctorOutcome.NoHttpResponse, $"the handshake succeeded but the server {closed}");
        }

        return Answered(answer, tls.SslProtocol, judge, asked);
    }

    private DoctorReport Answered(HttpAnswer answer, SslProtocols protocol, ServerCertificateJudge judge, bool asked)
    {
        var path = _request.Url.PathAndQuery;
        Line("http", Invariant($"GET {path} → {answer.Status} {answer.ReasonPhrase}"));
        var now = _time.GetUtcNow();
        if (answer.Date is { } serverClock)
        {
            var difference = serverClock - now;
            var direction = Math.Abs(difference.TotalSeconds) < 1 ? "in step" : difference > TimeSpan.Zero ? "server ahead" : "server behind";
            Line("clock", Invariant($"server (Date header) {serverClock.UtcDateTime:u}, this machine {now.UtcDateTime:u}: {Durations.Describe(difference)} apart ({direction}; Date has 1s resolution)"));
        }

        var reason = answer.Reason();
        if (_identity is not null && !asked)
        {
            return Finish(DoctorOutcome.ClientCertificateNotRequested, "WARN",
                Invariant($"the server did not ask for a client certificate, so ours ({_identity.SpiffeId}) was not sent and it cannot know who we are; GET {path} → {answer.Status}"));
        }

        return answer.Status switch
        {
            401 => Fail(DoctorOutcome.Unauthenticated, Invariant($"GET {path} → 401: the server saw no valid identity{(_identity is null ? " (we presented none: no --as)" : string.Empty)}{Because(reason)}")),
            403 => Fail(DoctorOutcome.Forbidden, Invariant($"GET {path} → 403: the handshake is fine, but {(_identity is null ? "we" : _identity.SpiffeId.ToString())} may not call it{Because(reason)}")),
            _ => Finish(DoctorOutcome.Ok, "OK", Invariant($"handshake {Version(protocol)}, server is {ServerName(judge.Leaf!)}, GET {path} → {answer.Status}")),
        };
    }

    private async Task<DoctorReport> HandshakeFailedAsync(Exception e, ServerCertificateJudge judge, CertificateRequestObserver observer, CancellationToken cancellationToken)
    {
        var alert = e is TimeoutException ? $"no complete handshake within {Durations.Describe(_request.Timeout)}" : TlsAlert.Describe(e);
        if (judge.Ran && !judge.Accepted)
        {
            return ServerCertificateRefused(judge);
        }

        if (judge.Ran)
        {
            DescribeServer(judge);
            if (_identity is not null)
            {
                return await ClientCertificateRefusedAsync($"the handshake failed after the server's certificate was accepted: {alert}", cancellationToken).ConfigureAwait(false);
            }

            return observer.Requested
                ? Fail(DoctorOutcome.ClientCertificateRequired, $"the server requires a client certificate but none was given (no --as); it ended the handshake: {alert}")
                : Fail(DoctorOutcome.HandshakeFailed, $"the handshake failed after the server's certificate was accepted: {alert}");
        }

        if (e is not TimeoutException && TlsAlert.IsProtocolVersion(e))
        {
            var accepted = new List<SslProtocols>();
            foreach (var version in s_probedVersions.Where(v => !Offered.HasFlag(v)))
            {
                if (await AcceptsVersionAsync(version, cancellationToken).ConfigureAwait(false))
                {
                    accepted.Add(version);
                }
            }

            var probed = s_probedVersions.Any(v => !Offered.HasFlag(v))
                ? accepted.Count > 0 ? $"it accepts {string.Join(", ", accepted.Select(Version))} (probed)" : $"it accepts none of {string.Join(", ", s_probedVersions.Where(v => !Offered.HasFlag(v)).Select(Version))} either (probed)"
                : "no other version to try";
            return Fail(DoctorOutcome.TlsVersionMismatch, $"TLS version mismatch: we offered {Versions(Offered)} and the handshake failed before any certificate ({alert}); {probed}");
        }

        // .NET judges the server's certificate only once the handshake completes: a server that aborts the TLS 1.2 handshake
        // over our certificate (or its absence) does so before the judge runs. Whether it had asked for one says which.
        if (e is not TimeoutException && observer.Requested)
        {
            return Fail(DoctorOutcome.ClientCertificateRequired,
                $"the server asked for a client certificate and ended the handshake without one: {alert} (none was given: no --as; the server's certificate was not judged, the handshake ended first)");
        }

        if (e is not TimeoutException && _identity is not null)
        {
            var probe = new CertificateRequestObserver();
            if (await TryHandshakeAsync(Offered, probe, cancellationToken).ConfigureAwait(false) || probe.Requested)
            {
                return await ClientCertificateRefusedAsync($"the handshake failed after the server asked for our certificate: {alert}", cancellationToken, probe).ConfigureAwait(false);
            }
        }

        var hint = alert.Contains("frame", StringComparison.OrdinalIgnoreCase) ? " — the port answered something that is not TLS (plain HTTP?)" : string.Empty;
        return Fail(DoctorOutcome.HandshakeFailed, $"the TLS handshake failed before the server sent a certificate: {alert}{hint}");
    }

    private DoctorReport ServerCertificateRefused(ServerCertificateJudge judge)
    {
        if (judge.Leaf is null)
        {
            return Fail(DoctorOutcome.ServerCertificateInvalid, "client side (doctor) refused the server: it sent no certificate");
        }

        DescribeServer(judge);
        var check = judge.Check!;
        AlsoLines(check);

        if (judge.TrustDomainMismatch is { } mismatch)
        {
            return Fail(DoctorOutcome.ServerCertificateInvalid, $"client side (doctor) refused the server's certificate: trust-domain-mismatch: {mismatch}");
        }

        if (check.Failure is not { } failure)
        {
            var sans = string.Join(", ", judge.Leaf.GetDnsNames().Select(n => $"DNS:{n}").Concat(judge.Leaf.GetIPAddresses().Select(a => $"IP:{a}")));
            return Fail(DoctorOutcome.HostMismatch,
                $"client side (doctor) refused the server's certificate: host/SAN mismatch: we asked for '{_host}', the certificate names {(sans.Length == 0 ? "no DNS or IP SAN" : sans)}");
        }

        if (judge.NameMismatch)
        {
            Line("also", $"the host '{_host}' is not among the certificate's DNS/IP SANs");
        }

        var clock = Invariant($"this machine's clock: {judge.CheckedAt.UtcDateTime:u}");
        var (outcome, detail) = failure.Kind switch
        {
            ChainFailure.UnknownCa => (DoctorOutcome.ServerUnknownCa, $"; the server's leaf is issued by '{judge.Leaf.Issuer}', our bundle holds {Names(_roots)} (wrong --bundle, or a server from another PKI)"),
            ChainFailure.IncompleteChain => (DoctorOutcome.ServerChainIncomplete, judge.Sent.Count == 0
                ? "; the server sent only its leaf: it must send its intermediate too"
                : $"; the server sent {Names(judge.Sent)}"),
            ChainFailure.Expired => (DoctorOutcome.ServerCertificateExpired, $" ({clock})"),
            ChainFailure.NotYetValid => (DoctorOutcome.ServerCertificateNotYetValid, $" ({clock}); it was issued for the future, or this machine's clock is behind"),
            ChainFailure.WrongUsage => (DoctorOutcome.ServerCertificateLacksServerAuth, " (a server certificate needs serverAuth)"),
            ChainFailure.Revoked => (DoctorOutcome.ServerCertificateRevoked, string.Empty),
            _ => (DoctorOutcome.ServerCertificateInvalid, string.Empty),
        };
        return Fail(outcome, $"client side (doctor) refused the server's certificate: {failure.Message}{detail}");
    }

    private async Task<DoctorReport> ClientCertificateRefusedAsync(string seen, CancellationToken cancellationToken, CertificateRequestObserver? probed = null)
    {
        var identity = _identity!;
        var acceptable = probed?.AcceptableIssuers ?? await AcceptableIssuersAsync(cancellationToken).ConfigureAwait(false);
        Line("refused", seen);
        var (reason, lines) = ClientCertificateDiagnosis.Explain(identity, _identityCheck!, acceptable, Path.Combine(_request.IdentityDirectory!, CredentialFiles.CrlFileName));
        foreach (var (label, text) in lines)
        {
            Line(label, text);
        }

        return Fail(DoctorOutcome.ClientCertificateRefused, $"server refused our certificate ({identity.SpiffeId}, serial {identity.Leaf.SerialNumber}): {reason}");
    }

    /// <summary>A second handshake that presents nothing, to read the server's CertificateRequest (acceptable issuers).</summary>
    private async Task<IReadOnlyList<string>> AcceptableIssuersAsync(CancellationToken cancellationToken)
    {
        var observer = new CertificateRequestObserver();
        await TryHandshakeAsync(Offered, observer, cancellationToken).ConfigureAwait(false);
        return observer.AcceptableIssuers;
    }

    /// <summary>A handshake offering only <paramref name="version"/>: the server accepts it when its certificate arrives.</summary>
    private async Task<bool> AcceptsVersionAsync(SslProtocols version, CancellationToken cancellationToken) =>
        await TryHandshakeAsync(version, new CertificateRequestObserver(), cancellationToken).ConfigureAwait(false);

    /// <summary>A probe handshake on a new connection, presenting no certificate; true when the server's certificate arrived.</summary>
    private async Task<bool> TryHandshakeAsync(SslProtocols protocols, CertificateRequestObserver observer, CancellationToken cancellationToken)
    {
        var judge = new ServerCertificateJudge(_roots, _revocation, _time, TrustDomain);
        try
        {
            using var tcp = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false);
            await WithTimeoutAsync(token => tls.AuthenticateAsClientAsync(ClientOptions(protocols, judge, observer, presentIdentity: false), token), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or SocketException or TimeoutException)
        {
            // A probe only learns; its failure is expected.
        }

        return judge.Ran;
    }

    private SslClientAuthenticationOptions ClientOptions(SslProtocols protocols, ServerCertificateJudge judge, CertificateRequestObserver observer, bool presentIdentity)
    {
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = _host,
            EnabledSslProtocols = protocols,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck, // revocation is ChainCheck's, from the CRL file
            AllowTlsResume = false, // a resumed session carries no chain, which would read as an incomplete one
            RemoteCertificateValidationCallback = judge.Validate,
        };
        if (presentIdentity && _identity is not null)
        {
            // A context sends leaf + intermediates; a selection callback would send only the leaf.
            options.ClientCertificateContext = SslStreamCertificateContext.Create(_identity.Leaf, _identity.Intermediates, offline: true);
        }
        else
        {
            options.LocalCertificateSelectionCallback = observer.Select;
        }

        return options;
    }

    private void DescribeServer(ServerCertificateJudge judge)
    {
        if (judge.Leaf is not { } leaf)
        {
            return;
        }

        var sent = judge.Sent.Count == 0 ? "sent no intermediate" : $"sent {judge.Sent.Count} intermediate(s)";
        Line("server", Invariant($"{ServerName(leaf)} '{leaf.Subject}', serial {leaf.SerialNumber}, valid {leaf.NotBefore.ToUniversalTime():u} → {leaf.NotAfter.ToUniversalTime():u}, issuer '{leaf.Issuer}'; {sent}"));
    }

    private void DescribeClientCertificate(bool asked, CertificateRequestObserver observer)
    {
        var issuers = observer.AcceptableIssuers.Count == 0 ? string.Empty : $" (acceptable issuers: {string.Join(", ", observer.AcceptableIssuers.Select(a => $"'{a}'"))})";
        Line("client", (_identity, asked) switch
        {
            (null, true) => $"the server asked for a client certificate{issuers}; we have none (no --as)",
            (null, false) => "the server did not ask for a client certificate",
            (_, true) => $"the server asked for a client certificate; we sent ours with {_identity.Intermediates.Count} intermediate(s)",
            (_, false) => "the server did not ask for a client certificate; ours was not sent",
        });
    }

    private void AlsoLines(ChainCheck check)
    {
        foreach (var problem in ClientCertificateDiagnosis.OtherProblems(check))
        {
            Line("also", problem);
        }
    }

    /// <summary>The leaf's revocation status in a few words.</summary>
    internal static string DescribeRevocation(ChainCheck check) =>
        check.Revocation.Count > 0 && check.Revocation[0] is { Crl: { } crl } first
            ? Invariant($"{(first.Status == RevocationStatus.Good ? "not revoked" : first.Status.ToString())} per CRL #{crl.Number} of '{crl.Issuer.Name}'")
            : "revocation not checked (no CRL)";

    private static string ServerName(X509Certificate2 leaf)
    {
        var id = leaf.GetSpiffeId(out var problem);
        return id.IsEmpty ? $"(no SPIFFE ID: {problem})" : id.ToString();
    }

    private async Task<T> WithTimeoutAsync<T>(Func<CancellationToken, Task<T>> action, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_request.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            return await action(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException();
        }
    }

    private Task<bool> WithTimeoutAsync(Func<CancellationToken, Task> action, CancellationToken cancellationToken) =>
        WithTimeoutAsync(async token =>
        {
            await action(token).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    private void Line(string label, string text) => _lines.Add($"{label,-9}  {text}");

    private DoctorReport Fail(DoctorOutcome outcome, string sentence) => Finish(outcome, "FAIL", sentence);

    private DoctorReport Finish(DoctorOutcome outcome, string level, string sentence)
    {
        _lines.Add(outcome == DoctorOutcome.Ok
            ? $"OK: {sentence}"
            : Invariant($"{level} {DoctorReport.Name(outcome)} (exit {(int)outcome}): {sentence}"));
        return new DoctorReport(outcome, _lines);
    }

    private static string Because(string? reason) => reason is null ? string.Empty : $": {reason}";

    private static string Names(IEnumerable<X509Certificate2> certificates) => string.Join(", ", certificates.Select(c => $"'{c.Subject}'"));

    private static string Version(SslProtocols protocol) => protocol switch
    {
        SslProtocols.Tls12 => "TLS 1.2",
        SslProtocols.Tls13 => "TLS 1.3",
        var other => other.ToString(),
    };

    private static string Versions(SslProtocols protocols) =>
        string.Join(" and ", s_probedVersions.Where(v => protocols.HasFlag(v)).Select(Version));

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
