using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Tests;
using MtlsAspire.ServiceDefaults.Authorization;
using MtlsAspire.ServiceDefaults.Http;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>The services' JSON answers, sized before they are sent, against what TypedResults sends, over real mTLS.</summary>
public class SizedJsonTests
{
    private sealed record Sample(Guid Id, string Name, decimal Amount, DateTimeOffset At, string? Missing, IReadOnlyList<int> Numbers);

    private static readonly Sample s_sample = new(Guid.Parse("5f0c1d2e-3a4b-4c5d-8e9f-0a1b2c3d4e5f"), "caf\u00e9 \"crème\" <b>", 25.10m,
        new DateTimeOffset(2026, 12, 7, 23, 0, 0, TimeSpan.FromHours(1)), null, new List<int> { 1, 2, 3 });

    [Fact]
    public async Task A_sized_json_answer_carries_a_content_length_and_the_same_bytes_typed_results_send_chunked()
    {
        using var pki = new TestPki();
        pki.Authority.Issue(new LeafRequest("payment") { DnsNames = ["localhost"], IPAddresses = [IPAddress.Loopback] });
        await using var server = await MtlsTestServer.StartAsync(pki.Authority.Layout.ServiceDirectory("payment"), app =>
        {
            app.MapGet("/typed/ok", () => TypedResults.Ok(s_sample)).RequireCaller("order");
            app.MapGet("/sized/ok", () => SizedJson.Ok(s_sample)).RequireCaller("order");
            app.MapGet("/typed/created", () => TypedResults.Created("/there/1", s_sample)).RequireCaller("order");
            app.MapGet("/sized/created", () => SizedJson.Created("/there/1", s_sample)).RequireCaller("order");
            app.MapGet("/typed/conflict", () => TypedResults.Conflict("out of stock")).RequireCaller("order");
            app.MapGet("/sized/conflict", () => SizedJson.Status("out of stock", StatusCodes.Status409Conflict)).RequireCaller("order");
        });
        var credentials = ServiceCredentials.Load(new CredentialDirectory(pki.Authority.Issue(new LeafRequest("order")).Directory));
        var roots = new X509Certificate2Collection(Pem.ReadCertificates(File.ReadAllText(pki.Authority.Layout.BundleFile), "ca.crt").ToArray());
        using var client = RawTlsClient.Create(credentials.Leaf, credentials.Intermediates, roots);

        foreach (var kind in new[] { "ok", "created", "conflict" })
        {
            using var typed = await client.GetAsync(new Uri(server.Https, $"/typed/{kind}"));
            using var sized = await client.GetAsync(new Uri(server.Https, $"/sized/{kind}"));
            var typedBody = await typed.Content.ReadAsByteArrayAsync();
            var sizedBody = await sized.Content.ReadAsByteArrayAsync();

            Assert.True(typed.Headers.TransferEncodingChunked, $"{kind}: TypedResults no longer answers chunked, so this test compares nothing");
            Assert.NotEqual(true, sized.Headers.TransferEncodingChunked);
            Assert.Equal(sizedBody.Length, sized.Content.Headers.ContentLength);
            Assert.Equal(typed.StatusCode, sized.StatusCode);
            Assert.Equal(typed.Content.Headers.ContentType, sized.Content.Headers.ContentType);
            Assert.Equal(typed.Headers.Location, sized.Headers.Location);
            Assert.Equal(typedBody, sizedBody);
        }
    }
}
