using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;
using Xunit.Abstractions;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// A client revoked while it is connected is refused once the server has loaded the new CRL: on its already-open
/// keep-alive connection (the middleware judges it again) and on a resumed TLS 1.3 session to <c>localhost</c> (the
/// handshake judges it again, without the intermediates it sent the first time). The time from crl.pem written to the
/// first refusal is measured and written to the test output; nothing asserts on it.
/// </summary>
public class RevocationTimingTests(ITestOutputHelper output)
{
    public static TheoryData<string> Connections => ["keep-alive", "resumed-session"];

    [Theory]
    [MemberData(nameof(Connections))]
    public async Task A_client_revoked_while_connected_is_refused_once_the_new_crl_is_loaded(string connection)
    {
        await using var scenario = await Scenario.StartAsync();
        // A plain copy of its files, so the client keeps presenting the certificate after it is revoked.
        var copy = scenario.PlainCopyOf(scenario.IssueClient("order"));
        await using var client = await MtlsTestClient.StartAsync(copy, scenario.Server.Https, "payment");
        var serial = client.Store.Current.Leaf.SerialNumber;
        // keep-alive: one pooled connection, kept open. resumed-session: Connection: close to https://localhost, so each
        // request is a new TCP connection that resumes the TLS session of the one before (the .NET client resumes to host names).
        var http = connection == "keep-alive" ? client.Pooled() : client.Fresh();
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/whoami")).StatusCode);
        }

        // Measured from the start of the revocation: RevokeService records it, signs the CRL and writes crl.pem to every
        // service directory, and the server may load it before the call returns.
        TimeSpan? loaded = null;
        var startedAt = DateTimeOffset.UtcNow;
        var written = Stopwatch.StartNew();
        scenario.Server.Store.Changed += _ => loaded ??= written.Elapsed;
        scenario.Pki.Authority.RevokeService("order", System.Security.Cryptography.X509Certificates.X509RevocationReason.KeyCompromise);
        var revokeReturned = written.Elapsed;
        Exception? refusal = null;
        var accepted = 0;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (refusal is null && !deadline.IsCancellationRequested)
        {
            try
            {
                using var response = await http.GetAsync("/api/whoami", deadline.Token);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode); // accepted only until the CRL is loaded
                accepted++;
            }
            catch (Exception e) when (e is HttpRequestException or Mtls.MtlsHandshakeException)
            {
                refusal = e;
            }
        }

        var clientSawRefusal = written.Elapsed;
        Assert.NotNull(refusal);
        FakeLogRecord? refused = null;
        await Eventually.True(() => (refused = scenario.Server.Logs.GetSnapshot().FirstOrDefault(r => r.Level == LogLevel.Warning
            && r.Message.Contains(": revoked.", StringComparison.Ordinal) && (string?)r.GetStructuredStateValue("Serial") == serial)) is not null,
            "the server logged the refusal of the revoked serial");
        Assert.NotNull(loaded);
        // The client's own view is later: a connection the server drops is retried by the resilience pipeline after its back-off.
        output.WriteLine($"{connection}: revocation started; crl.pem written and RevokeService returned after {revokeReturned.TotalMilliseconds:F0} ms; " +
            $"new CRL loaded by the server after {loaded.Value.TotalMilliseconds:F0} ms; " +
            $"first refusal by the server after {(refused!.Timestamp - startedAt).TotalMilliseconds:F0} ms; the client saw it after " +
            $"{clientSawRefusal.TotalMilliseconds:F0} ms ({accepted} requests accepted in between; {refusal.GetType().Name})");
        // And every later request is refused too.
        await Assert.ThrowsAnyAsync<Exception>(() => http.GetAsync("/api/whoami"));
    }
}
