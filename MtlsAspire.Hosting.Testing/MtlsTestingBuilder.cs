using System.Net.Security;
using System.Reflection;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Certificates;
using MtlsAspire.CertBootstrap.Identity;
using MtlsAspire.CertBootstrap.Revocation;
using MtlsAspire.CertBootstrap.Storage;

namespace MtlsAspire.Hosting.Testing;

/// <summary>
/// The testing entry point, shaped like Aspire.Hosting.Testing: create the app model of an AppHost with a temporary
/// state directory and ephemeral ports, start it, wait for resources to be healthy, and get an HttpClient for a
/// resource — here also <em>as an identity</em>, or with a certificate the test made.
/// <code>
/// var builder = MtlsTestingBuilder.Create(typeof(Program).Assembly, Program.Describe);
/// await using var app = builder.Build();
/// await app.StartAsync();
/// using var client = app.CreateHttpClient("order", asIdentity: "shopper");
/// </code>
/// </summary>
public static class MtlsTestingBuilder
{
    /// <summary>An app model for tests: a fresh state directory (deleted on dispose), output captured.</summary>
    public static MtlsTestingApplicationBuilder Create(Assembly appHost, Action<MtlsApplicationBuilder> describe, Action<MtlsApplicationOptions>? configure = null)
    {
        var state = Path.Combine(Path.GetTempPath(), "mtls-apphost-tests", Guid.NewGuid().ToString("N")[..12]);
        var output = new CapturedOutput();
        var options = new MtlsApplicationOptions { StateDirectory = state, Output = output, OtlpEndpoint = null };
        configure?.Invoke(options);
        var builder = new MtlsApplicationBuilder(options, appHost);
        describe(builder);
        return new MtlsTestingApplicationBuilder(builder, output);
    }
}

/// <summary>The builder of a test app.</summary>
public sealed class MtlsTestingApplicationBuilder
{
    private readonly CapturedOutput _output;

    internal MtlsTestingApplicationBuilder(MtlsApplicationBuilder builder, CapturedOutput output)
    {
        Builder = builder;
        _output = output;
    }

    /// <summary>The underlying app model.</summary>
    public MtlsApplicationBuilder Builder { get; }

    /// <summary>Builds the app (not started).</summary>
    public MtlsTestingApplication Build() => new(Builder.Build(), Builder.Options, _output);
}

/// <summary>A running test app; disposing it stops every process and deletes its state directory.</summary>
public sealed class MtlsTestingApplication : IAsyncDisposable
{
    private readonly MtlsApplication _app;
    private readonly MtlsApplicationOptions _options;
    private readonly CapturedOutput _output;

    internal MtlsTestingApplication(MtlsApplication app, MtlsApplicationOptions options, CapturedOutput output)
    {
        _app = app;
        _options = options;
        _output = output;
    }

    /// <summary>The running app.</summary>
    public MtlsApplication Application => _app;

    /// <summary>Everything the AppHost and the children printed.</summary>
    public string Output => _output.ToString();

    /// <summary>Starts every resource and waits until all are healthy.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default) => _app.StartAsync(cancellationToken);

    /// <summary>Waits until <paramref name="resource"/> answers its health endpoint with success.</summary>
    public async Task WaitForResourceHealthyAsync(string resource, TimeSpan? timeout = null)
    {
        var model = Resource(resource);
        using var client = MtlsApplication.HealthClient(model);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            try
            {
                using var response = await client.GetAsync(_app.Endpoints[resource].Health);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Resource '{resource}' is not healthy after {(timeout ?? TimeSpan.FromSeconds(30)).TotalSeconds} s.");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>
    /// An HttpClient for <paramref name="resource"/>'s mTLS endpoint that presents the certificate of identity
    /// <paramref name="asIdentity"/> (a resource's own, or a new leaf issued for that name), and verifies that the
    /// server is <paramref name="resource"/>.
    /// </summary>
    public HttpClient CreateHttpClient(string resource, string asIdentity)
    {
        var directory = _app.Authority.Ledger.ActiveLeaf(asIdentity) is { } leaf && leaf.OutputDirectory is { } existing
            ? existing
            : _app.Authority.Issue(new LeafRequest(asIdentity) { DnsNames = ["localhost"] }).Directory;
        var credentials = ServiceCredentials.Load(new CredentialDirectory(directory));
        return CreateHttpClient(resource, credentials.Leaf, credentials.Intermediates);
    }

    /// <summary>An HttpClient for <paramref name="resource"/> that presents exactly <paramref name="certificate"/> (or none).</summary>
    public HttpClient CreateHttpClient(string resource, X509Certificate2? certificate, IEnumerable<X509Certificate2> intermediates)
    {
        var expected = Resource(resource).SpiffeId;
        var roots = _app.Authority.TrustedRoots();
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                ClientCertificateContext = certificate is null ? null : SslStreamCertificateContext.Create(certificate, [.. intermediates], offline: true),
                RemoteCertificateValidationCallback = (_, server, chain, _) =>
                    server is X509Certificate2 leaf
                    && ChainCheck.Verify(leaf, chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>() ?? [], roots, RevocationSet.Empty, DateTimeOffset.UtcNow,
                        CertificateFacts.ServerAuthOid).IsValid
                    && leaf.GetSpiffeId(out _) == expected,
            },
        };
        return new HttpClient(handler) { BaseAddress = _app.Endpoints[resource].Https ?? throw new InvalidOperationException($"'{resource}' has no mTLS endpoint.") };
    }

    /// <summary>A plain HttpClient over a Unix-socket resource's socket (the test stands where its proxy stands).</summary>
    public HttpClient CreateUnixSocketClient(string resource)
    {
        var client = MtlsApplication.HealthClient(Resource(resource));
        client.BaseAddress = new Uri("http://localhost");
        return client;
    }

    /// <summary>Opens a new TLS connection to <paramref name="resource"/> and returns the serial of the certificate it serves now.</summary>
    public async Task<string> ServedCertificateSerialAsync(string resource, string asIdentity)
    {
        var serial = string.Empty;
        var directory = _app.Authority.Ledger.ActiveLeaf(asIdentity)?.OutputDirectory ?? throw new ArgumentException($"'{asIdentity}' has no certificate.", nameof(asIdentity));
        using var credentials = ServiceCredentials.Load(new CredentialDirectory(directory));
        using var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.Zero,
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                ClientCertificateContext = SslStreamCertificateContext.Create(credentials.Leaf, credentials.Intermediates, offline: true),
                RemoteCertificateValidationCallback = (_, server, chain, _) =>
                {
                    serial = (server as X509Certificate2)?.SerialNumber ?? string.Empty;
                    return server is X509Certificate2 leaf && ChainCheck.Verify(leaf, chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>() ?? [],
                        credentials.TrustedRoots, RevocationSet.Empty, DateTimeOffset.UtcNow, CertificateFacts.ServerAuthOid).IsValid;
                },
            },
        };
        using var client = new HttpClient(handler);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_app.Endpoints[resource].Https!, "/"));
        request.Headers.ConnectionClose = true;
        using var response = await client.SendAsync(request);
        return serial;
    }

    /// <summary>The SPIFFE ID of a resource.</summary>
    public SpiffeId IdentityOf(string resource) => Resource(resource).SpiffeId;

    private ProjectResource Resource(string name) =>
        _app.Resources.FirstOrDefault(r => r.Name == name) ?? throw new ArgumentException($"No resource named '{name}' in this app.", nameof(name));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(_options.StateDirectory))
        {
            Directory.Delete(_options.StateDirectory, recursive: true);
        }
    }
}

/// <summary>A thread-safe writer that keeps everything written.</summary>
internal sealed class CapturedOutput : TextWriter
{
    private readonly System.Text.StringBuilder _text = new();

    public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

    public override void Write(char value)
    {
        lock (_text)
        {
            _text.Append(value);
        }
    }

    public override void Write(string? value)
    {
        lock (_text)
        {
            _text.Append(value);
        }
    }

    public override void WriteLine(string? value)
    {
        lock (_text)
        {
            _text.Append(value).Append('\n');
        }
    }

    public override string ToString()
    {
        lock (_text)
        {
            return _text.ToString();
        }
    }
}
