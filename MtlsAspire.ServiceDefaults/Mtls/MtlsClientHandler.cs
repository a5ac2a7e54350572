using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using MtlsAspire.Verification.Identity;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// The primary handler of an mTLS HttpClient. It keeps one <see cref="SocketsHttpHandler"/> per credential generation
/// (a pooled connection keeps the certificate it was opened with): when the credentials rotate, new requests go to a
/// new inner handler at once, so every new connection presents the new certificate, and the old handler (with its
/// pooled connections) is disposed after <see cref="MtlsOptions.RetiredClientHandlerGrace"/>. The server is validated
/// against the bundle, the CRLs and serverAuth, and must present the SPIFFE ID expected for the service meant.
/// </summary>
internal sealed class MtlsClientHandler : HttpMessageHandler
{
    private static readonly TimeSpan s_rejectionMemory = TimeSpan.FromSeconds(5);
    private readonly MtlsCredentialStore _store;
    private readonly MtlsOptions _options;
    private readonly TimeProvider _time;
    private readonly MtlsTelemetry _telemetry;
    private readonly ILogger _logger;
    private readonly string _service;
    private readonly Lock _lock = new();
    private Inner _current;
    private bool _disposed;

    public MtlsClientHandler(MtlsCredentialStore store, MtlsOptions options, TimeProvider time, MtlsTelemetry telemetry, ILogger logger, string service)
    {
        _store = store;
        _options = options;
        _time = time;
        _telemetry = telemetry;
        _logger = logger;
        _service = service;
        _current = CreateInner(store.Current);
        store.Changed += OnCredentialsChanged;
    }

    /// <summary>The generation of the credentials new requests use.</summary>
    internal long Generation => Volatile.Read(ref _current).Credentials.Generation;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri?.Scheme != Uri.UriSchemeHttps)
        {
            // Never fall back to plain HTTP (e.g. an https+http:// name that resolved to an http endpoint): no identity either way.
            throw new MtlsHandshakeException(RejectionReason.Invalid,
                $"Refusing to call {request.RequestUri} from an mTLS client: only https is allowed, so that {_service} proves who it is.");
        }

        var inner = Volatile.Read(ref _current);
        if (inner.Credentials.Generation != _store.Current.Generation)
        {
            inner = Rotate(_store.Current);
        }

        try
        {
            Interlocked.Increment(ref inner.InFlight);
            return await inner.Invoker.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (Translate(e, inner, request) is { } translated)
        {
            throw translated;
        }
        finally
        {
            Interlocked.Decrement(ref inner.InFlight);
        }
    }

    private void OnCredentialsChanged(MtlsCredentials credentials) => Rotate(credentials);

    private Inner Rotate(MtlsCredentials credentials)
    {
        Inner retired;
        Inner next;
        lock (_lock)
        {
            if (_disposed || _current.Credentials.Generation >= credentials.Generation)
            {
                return _current;
            }

            retired = _current;
            next = CreateInner(credentials);
            Volatile.Write(ref _current, next);
        }

        // Requests already under way finish on the old connections; then they are closed.
        RetireAfterGrace(retired, _time.GetUtcNow());
        return next;
    }

    /// <summary>
    /// Disposes a retired handler once the grace period has passed and no request it carries is still waiting for its
    /// response headers (bodies HttpClient buffers afterwards are covered by the grace), or at the latest after ten graces.
    /// </summary>
    private void RetireAfterGrace(Inner retired, DateTimeOffset since)
    {
        ITimer? timer = null;
        timer = _time.CreateTimer(_ =>
        {
            timer?.Dispose();
            if (Volatile.Read(ref retired.InFlight) == 0 || _time.GetUtcNow() - since > _options.RetiredClientHandlerGrace * 10)
            {
                retired.Dispose();
            }
            else
            {
                RetireAfterGrace(retired, since);
            }
        }, null, _options.RetiredClientHandlerGrace, Timeout.InfiniteTimeSpan);
    }

    private Inner CreateInner(MtlsCredentials credentials)
    {
        var expected = SpiffeId.TryParse(_service, out var full, out _) ? full : credentials.IdentityOf(_service);
        var inner = new Inner(credentials);
        inner.Handler.SslOptions = new SslClientAuthenticationOptions
        {
            ClientCertificateContext = credentials.CertificateContext,
            EnabledSslProtocols = _options.EnabledProtocols,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            CertificateChainPolicy = credentials.CreateChainPolicy(MtlsAspire.Verification.Certificates.CertificateFacts.ServerAuthOid),
            RemoteCertificateValidationCallback = (sender, certificate, chain, _) =>
            {
                var target = (sender as SslStream)?.TargetHostName is { Length: > 0 } host ? host : "unknown";
                var peer = new PeerCertificate(certificate as X509Certificate2, MtlsServerExtensions.SentIntermediates(chain), target);
                var (verdict, judge) = _store.Judge(credentials, peer, PeerSide.Client, expected);
                if (verdict.Accepted)
                {
                    inner.LastAcceptedHandshake = _time.GetUtcNow();
                }
                else
                {
                    inner.Rejected(new Rejection(verdict, _time.GetUtcNow()));
                    MtlsServerExtensions.Report(_logger, _telemetry, judge, PeerSide.Client, peer, verdict);
                }

                return verdict.Accepted;
            },
        };
        inner.Expected = expected;
        return inner;
    }

    private MtlsHandshakeException? Translate(HttpRequestException e, Inner inner, HttpRequestMessage request)
    {
        var target = request.RequestUri?.GetLeftPart(UriPartial.Authority) ?? "the server";
        if (inner.TakeRejection() is { } rejection && _time.GetUtcNow() - rejection.At < s_rejectionMemory)
        {
            var verdict = rejection.Verdict;
            return new MtlsHandshakeException(verdict.Reason!.Value,
                $"{_store.Current.Identity} (client) refused the certificate of {target}, which should be {inner.Expected}: {verdict.Describe()}", e);
        }

        // A connection that ends right after a handshake we accepted is the server refusing our certificate (TLS 1.3
        // tells the client only then). One that ends later (a server dying mid-response) stays a retryable HttpRequestException.
        var justHandshaked = _time.GetUtcNow() - inner.LastAcceptedHandshake < TimeSpan.FromSeconds(2);
        if (e.HttpRequestError is HttpRequestError.SecureConnectionError || (e.HttpRequestError is HttpRequestError.ResponseEnded && justHandshaked))
        {
            return new MtlsHandshakeException(RejectionReason.RefusedByPeer,
                $"{target} ({inner.Expected}) closed the connection during or right after the TLS handshake: it most likely refused this client's certificate " +
                $"({inner.Credentials.Identity}, serial {inner.Credentials.Leaf.SerialNumber}); the server's log names the reason. ({e.Message})", e);
        }

        return null;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_lock)
            {
                _disposed = true;
            }

            _store.Changed -= OnCredentialsChanged;
            _current.Dispose();
        }

        base.Dispose(disposing);
    }

    private sealed record Rejection(PeerVerdict Verdict, DateTimeOffset At);

    private sealed class Inner : IDisposable
    {
        public Inner(MtlsCredentials credentials)
        {
            Credentials = credentials;
            Handler = new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(10),
                ConnectTimeout = TimeSpan.FromSeconds(10),
            };
            Invoker = new HttpMessageInvoker(Handler, disposeHandler: false);
        }

        public MtlsCredentials Credentials { get; }

        public SocketsHttpHandler Handler { get; }

        public HttpMessageInvoker Invoker { get; }

        public SpiffeId Expected { get; set; }

        // Written by the handshakes of any of its connections and read by any request: as one 64-bit value and one
        // reference, so that a reader never sees half of a write.
        private long _lastAcceptedTicks = DateTimeOffset.MinValue.UtcTicks;
        private Rejection? _lastRejection;

        /// <summary>When this handler last accepted a server in a handshake.</summary>
        public DateTimeOffset LastAcceptedHandshake
        {
            get => new(Interlocked.Read(ref _lastAcceptedTicks), TimeSpan.Zero);
            set => Interlocked.Exchange(ref _lastAcceptedTicks, value.UtcTicks);
        }

        /// <summary>Requests sent through this handler still waiting for their response headers.</summary>
        public int InFlight;

        /// <summary>Notes a refusal of a server by one of this handler's handshakes.</summary>
        public void Rejected(Rejection rejection) => Volatile.Write(ref _lastRejection, rejection);

        /// <summary>The last refusal, taken (a refusal explains one failed request).</summary>
        public Rejection? TakeRejection() => Interlocked.Exchange(ref _lastRejection, null);

        public void Dispose()
        {
            Invoker.Dispose();
            Handler.Dispose();
        }
    }
}
