using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Tests;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>
/// Session tickets only where a client can resume: a client that names the server (SNI) gets them and resumes; one that
/// dialled the IP address (no name, as the .NET client never resumes to an IP literal) gets none that resume. OpenSSL's
/// s_client is the client, because it can say whether its second connection resumed the first one's session.
/// </summary>
public class SessionTicketTests
{
    /// <summary>Two connections of s_client as order, the second offering the first one's session: true when it was resumed.</summary>
    private static bool SecondConnectionResumes(Scenario scenario, string directory, params string[] naming)
    {
        var chain = Path.Combine(directory, "intermediates.pem");
        using (var credentials = ServiceCredentials.Load(new CredentialDirectory(directory)))
        {
            File.WriteAllText(chain, string.Concat(credentials.Intermediates.Select(c => c.ExportCertificatePem() + "\n")));
        }

        var session = Path.Combine(directory, $"session-{Guid.NewGuid():N}.pem");
        string[] common = ["s_client", "-connect", $"127.0.0.1:{scenario.Server.Https.Port}", "-tls1_3", "-cert", Path.Combine(directory, "tls.crt"),
            "-key", Path.Combine(directory, "tls.key"), "-cert_chain", chain, "-CAfile", scenario.Pki.Authority.Layout.BundleFile, "-verify_return_error",
            .. naming];
        var first = Connect([.. common, "-sess_out", session]);
        Assert.Contains("New, TLSv1.3", first, StringComparison.Ordinal);
        Assert.Contains("HTTP/1.1 200", first, StringComparison.Ordinal);
        var second = Connect([.. common, "-sess_in", session]);
        Assert.Contains("HTTP/1.1 200", second, StringComparison.Ordinal);
        return second.Contains("Reused, TLSv1.3", StringComparison.Ordinal);
    }

    /// <summary>One s_client connection sending one request; it reads until the server closes, so every ticket has arrived.</summary>
    private static string Connect(string[] args)
    {
        var request = Path.GetTempFileName();
        try
        {
            File.WriteAllText(request, "GET /api/whoami HTTP/1.1\r\nHost: payment\r\nConnection: close\r\n\r\n");
            // Its exit code is 1 whenever the server closes without a close_notify, as Kestrel does: the output tells.
            var (_, output) = ProcessRunner.Run("sh", ["-c", "exec openssl \"$@\" -ign_eof < \"$REQUEST\"", "openssl", .. args], TimeSpan.FromSeconds(30),
                new Dictionary<string, string?> { ["REQUEST"] = request });
            return output;
        }
        finally
        {
            File.Delete(request);
        }
    }

    [Fact]
    public async Task A_client_that_names_the_server_resumes_its_session()
    {
        await using var scenario = await Scenario.StartAsync();
        var directory = scenario.PlainCopyOf(scenario.IssueClient("order"));

        Assert.True(SecondConnectionResumes(scenario, directory, "-servername", "localhost"));
    }

    [Theory]
    [InlineData("-noservername")]
    [InlineData("-servername", "127.0.0.1")]
    public async Task A_client_that_dialled_the_ip_address_gets_no_session_it_can_resume(params string[] naming)
    {
        await using var scenario = await Scenario.StartAsync();
        var directory = scenario.PlainCopyOf(scenario.IssueClient("order"));

        Assert.False(SecondConnectionResumes(scenario, directory, naming));
    }

    [Fact]
    public async Task With_resumption_turned_off_a_client_that_names_the_server_does_not_resume_either()
    {
        await using var scenario = await Scenario.StartAsync(settings: new Dictionary<string, string?> { ["Mtls:AllowTlsResumption"] = "false" });
        var directory = scenario.PlainCopyOf(scenario.IssueClient("order"));

        Assert.False(SecondConnectionResumes(scenario, directory, "-servername", "localhost"));
    }
}
