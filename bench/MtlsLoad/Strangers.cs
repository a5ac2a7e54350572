using System.Diagnostics;
using System.Formats.Asn1;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace MtlsAspire.MtlsLoad;

/// <summary>
/// <c>MtlsLoad strangers</c>: handshakes of strangers that try to fill the server's memory. Each is a new connection
/// presenting a fresh leaf under two made-up CAs of <c>--padding</c> bytes each (an extension of no meaning); the upper CA
/// names an issuer that exists nowhere, so both CAs are sent. The server must refuse every one; what it keeps of them
/// is what bench/strangers.sh measures, from the server's RSS.
/// </summary>
internal static class Strangers
{
    public const string Usage = """
        usage: MtlsLoad strangers --url URL --ca FILE [--count N] [--padding BYTES] [--connections N]
          --url URL          https:// URL of the server under test
          --ca FILE          PEM roots the server's chain must build to (the server is validated)
          --count N          handshakes, default 2000
          --padding BYTES    bytes of padding in each of the two CAs, default 40000
          --connections N    handshakes in flight at once, default 4
        prints "result strangers=N refused=N answered=N errors=N seconds=S"; exits 1 if any was answered or failed otherwise
        """;

    private static readonly TimeSpan s_attemptTimeout = TimeSpan.FromSeconds(30);

    public static async Task<int> RunAsync(string[] args)
    {
        string? url = null, ca = null;
        int count = 2000, padding = 40_000, connections = 4;
        try
        {
            for (var i = 0; i < args.Length; i += 2)
            {
                var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--url": url = value; break;
                    case "--ca": ca = value; break;
                    case "--count": count = int.Parse(value, CultureInfo.InvariantCulture); break;
                    case "--padding": padding = int.Parse(value, CultureInfo.InvariantCulture); break;
                    case "--connections": connections = int.Parse(value, CultureInfo.InvariantCulture); break;
                    default: throw new ArgumentException($"unknown option {args[i]}");
                }
            }

            if (url is null || ca is null)
            {
                throw new ArgumentException("--url and --ca are required");
            }
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            Console.Error.WriteLine($"MtlsLoad strangers: {e.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var target = new Uri(url);
        var endpoint = new IPEndPoint(IPAddress.Parse(target.Host), target.Port);
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(ca);
        var request = Encoding.ASCII.GetBytes($"GET {target.PathAndQuery} HTTP/1.1\r\nHost: {target.Authority}\r\nConnection: close\r\n\r\n");
        long next = -1, refused = 0, answered = 0, errors = 0;
        string? firstError = null;
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                try
                {
                    if (await AttemptAsync(endpoint, target.Host, roots, padding, request).ConfigureAwait(false))
                    {
                        Interlocked.Increment(ref answered);
                    }
                    else
                    {
                        Interlocked.Increment(ref refused);
                    }
                }
                catch (Exception e) when (e is IOException or SocketException or AuthenticationException)
                {
                    Interlocked.Increment(ref refused); // the server ended it
                }
                catch (Exception e) when (e is OperationCanceledException or CryptographicException)
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, e.Message, null);
                }
            }
        }))).ConfigureAwait(false);

        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv,
            $"strangers: {count} handshakes, each a fresh leaf and two CAs of {padding} bytes of padding, {connections} at once: {refused} refused, {answered} answered, {errors} errors in {stopwatch.Elapsed.TotalSeconds:F1} s"));
        if (firstError is not null)
        {
            Console.WriteLine($"  first error: {firstError}");
        }

        Console.WriteLine(string.Create(inv, $"result strangers={count} refused={refused} answered={answered} errors={errors} seconds={stopwatch.Elapsed.TotalSeconds:F1}"));
        return answered == 0 && errors == 0 ? 0 : 1;
    }

    /// <summary>True when the server answered an HTTP request over the stranger's connection (a hole).</summary>
    private static async Task<bool> AttemptAsync(IPEndPoint endpoint, string host, X509Certificate2Collection roots, int padding, byte[] request)
    {
        using var timeout = new CancellationTokenSource(s_attemptTimeout);
        var (leaf, authorities) = Chain(padding);
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
        await using var network = new NetworkStream(socket, ownsSocket: false);
        await using var ssl = new SslStream(network, leaveInnerStreamOpen: true);
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
        policy.CustomTrustStore.AddRange(roots);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = host,
            EnabledSslProtocols = SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            CertificateChainPolicy = policy,
            // The server is validated for real: a refusal must come from the server under test.
            RemoteCertificateValidationCallback = (_, _, _, errors) => errors is SslPolicyErrors.None or SslPolicyErrors.RemoteCertificateNameMismatch,
            ClientCertificateContext = SslStreamCertificateContext.Create(leaf, authorities, offline: true),
            AllowTlsResume = false,
        }, timeout.Token).ConfigureAwait(false);
        // TLS 1.3: the client's side is done before the server has judged its certificate; the verdict comes on the first read.
        await ssl.WriteAsync(request, timeout.Token).ConfigureAwait(false);
        var buffer = new byte[16];
        var read = await ssl.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
        return read >= 5 && buffer.AsSpan(0, 5).SequenceEqual("HTTP/"u8);
    }

    /// <summary>A fresh leaf, its issuer and that one's issuer, both CAs padded; the top names an issuer that exists nowhere.</summary>
    private static (X509Certificate2 Leaf, X509Certificate2Collection Authorities) Chain(int padding)
    {
        using var upperKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var lowerKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var id = Guid.NewGuid().ToString("N");
        var now = DateTimeOffset.UtcNow;
        var upper = Padded($"CN=Stranger Upper {id}", upperKey, new X500DistinguishedName($"CN=Nowhere {id}"), upperKey, padding, now);
        var lower = Padded($"CN=Stranger Lower {id}", lowerKey, upper.SubjectName, upperKey, padding, now);
        var request = new CertificateRequest($"CN=stranger {id}", leafKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var leaf = request.Create(lower.SubjectName, X509SignatureGenerator.CreateForECDsa(lowerKey), now.AddMinutes(-5), now.AddHours(1),
            RandomNumberGenerator.GetBytes(16));
        return (leaf.CopyWithPrivateKey(leafKey), [lower, upper]);
    }

    private static X509Certificate2 Padded(string subject, ECDsa key, X500DistinguishedName issuer, ECDsa issuerKey, int padding, DateTimeOffset now)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForCertificateAuthority());
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteOctetString(RandomNumberGenerator.GetBytes(padding));
        request.CertificateExtensions.Add(new X509Extension(new Oid("1.3.6.1.4.1.99999.1"), writer.Encode(), critical: false));
        return request.Create(issuer, X509SignatureGenerator.CreateForECDsa(issuerKey), now.AddMinutes(-5), now.AddDays(1), RandomNumberGenerator.GetBytes(16));
    }
}
