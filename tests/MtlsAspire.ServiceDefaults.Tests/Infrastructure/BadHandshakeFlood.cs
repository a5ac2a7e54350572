using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification.Certificates;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>
/// A flood of bad handshakes from one source address until disposed, as an attacker would send them, each on a new
/// connection: garbage bytes, TLS without a client certificate, and a self-signed certificate claiming a SPIFFE ID of the
/// trust domain. Every outcome is expected to be a refusal; the flood only counts its attempts. Bounded: it stops by
/// itself after two minutes.
/// </summary>
public sealed class BadHandshakeFlood : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new(TimeSpan.FromMinutes(2));
    private readonly List<Task> _workers = [];
    private readonly X509Certificate2 _selfSigned;
    private readonly HttpClient _anonymous;
    private readonly HttpClient _impostor;
    private long _attempts;

    public BadHandshakeFlood(IPAddress source, Uri server, X509Certificate2Collection trustedRoots, string claimedSpiffeId)
    {
        var endpoint = new IPEndPoint(IPAddress.Parse(server.Host), server.Port);
        _selfSigned = SelfSigned(claimedSpiffeId);
        _anonymous = RawTlsClient.Create(null, [], trustedRoots, configure: handler => SourceBinding.From(handler, source));
        _impostor = RawTlsClient.Create(_selfSigned, [], trustedRoots, configure: handler => SourceBinding.From(handler, source));
        _workers.Add(Task.Run(() => Loop(() => GarbageAsync(source, endpoint))));
        _workers.Add(Task.Run(() => Loop(() => _anonymous.GetAsync(new Uri(server, "/api/whoami"), _stop.Token))));
        _workers.Add(Task.Run(() => Loop(() => _impostor.GetAsync(new Uri(server, "/api/whoami"), _stop.Token))));
    }

    public long Attempts => Interlocked.Read(ref _attempts);

    private async Task Loop(Func<Task> attempt)
    {
        while (!_stop.IsCancellationRequested)
        {
            Interlocked.Increment(ref _attempts);
            try
            {
                await attempt();
            }
            catch (Exception e) when (e is HttpRequestException or IOException or SocketException or OperationCanceledException)
            {
                // Refused, as it should be; a bad handshake that got an answer would show in the test's assertions.
            }
        }
    }

    private async Task GarbageAsync(IPAddress source, IPEndPoint endpoint)
    {
        using var socket = await SourceBinding.ConnectAsync(source, endpoint, _stop.Token);
        await socket.SendAsync(RandomNumberGenerator.GetBytes(64), SocketFlags.None, _stop.Token);
        var buffer = new byte[256];
        while (await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token) > 0)
        {
        }
    }

    private static X509Certificate2 SelfSigned(string spiffeId)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=impostor", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(spiffeId));
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(CertificateFacts.ClientAuthOid)], false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_workers);
        _stop.Dispose();
        _anonymous.Dispose();
        _impostor.Dispose();
        _selfSigned.Dispose();
    }
}
