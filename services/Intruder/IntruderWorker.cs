using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Storage;
using MtlsAspire.ServiceDefaults.Mtls;

namespace MtlsAspire.Intruder;

public sealed class IntruderOptions
{
    public const string SectionName = "Intruder";

    /// <summary>Off switch.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Time between rounds of attempts.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>The kit of certificates that must be refused (expired/, revoked/, server-only/, rogue/), prepared by the AppHost.</summary>
    public string Kit { get; set; } = string.Empty;
}

/// <summary>
/// A slow round of every way of being refused, so rejections are visible while the app runs: no certificate, a rogue
/// CA, an expired certificate, a revoked one, a serverAuth-only one (each refused in the handshake, and the target
/// logs why), and its own valid identity calling an endpoint that does not allow it (403).
/// </summary>
public sealed partial class IntruderWorker(IOptions<IntruderOptions> options, IConfiguration configuration, IHttpClientFactory clients,
    MtlsCredentialStore credentials, TimeProvider time, ILogger<IntruderWorker> logger) : BackgroundService
{
    private sealed record Attempt(string Name, string Target, string? KitEntry);

    private static readonly Attempt[] s_attempts =
    [
        new("no certificate", "payment", null),
        new("rogue CA", "payment", "rogue"),
        new("expired certificate", "inventory", "expired"),
        new("revoked certificate", "inventory", "revoked"),
        new("serverAuth-only certificate", "payment", "server-only"),
    ];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            return;
        }

        using var timer = new PeriodicTimer(options.Value.Interval, time);
        do
        {
            foreach (var attempt in s_attempts)
            {
                await TryAsync(attempt, stoppingToken);
            }

            await TryAsItselfAsync(stoppingToken);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task TryAsync(Attempt attempt, CancellationToken cancellationToken)
    {
        var target = new Uri(configuration[$"services:{attempt.Target}:https:0"] ?? throw new InvalidOperationException($"No address for {attempt.Target}."));
        using var presented = attempt.KitEntry is null ? null : ServiceCredentials.Load(new CredentialDirectory(Path.Combine(options.Value.Kit, attempt.KitEntry)));
        using var client = ClientPresenting(presented, credentials.Current.IdentityOf(attempt.Target));
        try
        {
            using var response = await client.GetAsync(new Uri(target, attempt.Target == "payment" ? "/api/payments/charges/intrusion" : "/api/inventory/items/coffee"), cancellationToken);
            LogLetThrough(logger, attempt.Name, attempt.Target, (int)response.StatusCode);
        }
        catch (HttpRequestException e)
        {
            LogRefused(logger, attempt.Name, attempt.Target, e.InnerException?.Message ?? e.Message);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // No answer at all (a timeout on a busy machine, ...): the next round tries again; a throw would stop the host.
            LogUnanswered(logger, attempt.Name, attempt.Target, e.Message);
        }
    }

    private async Task TryAsItselfAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var response = await clients.CreateClient("as-itself").PostAsJsonAsync("/api/payments/charges", new { orderId = "intrusion", amount = 1m }, cancellationToken);
            LogAnswered(logger, "its own identity on an endpoint that does not allow it", "payment", (int)response.StatusCode);
        }
        catch (Exception e) when (e is HttpRequestException or MtlsHandshakeException)
        {
            LogRefused(logger, "its own identity", "payment", e.Message);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            LogUnanswered(logger, "its own identity", "payment", e.Message);
        }
    }

    /// <summary>A client presenting <paramref name="presented"/> (or nothing) that still verifies the server properly, one handshake per attempt.</summary>
    private HttpClient ClientPresenting(ServiceCredentials? presented, SpiffeId expected)
    {
        var current = credentials.Current;
        return AttemptClient.Create(presented, (_, server, chain, _) =>
            current.Validate(new PeerCertificate(server as X509Certificate2, [.. chain?.ChainPolicy.ExtraStore.Cast<X509Certificate2>() ?? []], "server"),
                PeerSide.Client, time.GetUtcNow(), expected).Accepted);
    }

    [LoggerMessage(1, LogLevel.Information, "Intruder tried a {Attempt} on {Target}: refused in the handshake ({Error}); the target's log says why")]
    private static partial void LogRefused(ILogger logger, string attempt, string target, string error);

    [LoggerMessage(2, LogLevel.Warning, "Intruder tried a {Attempt} on {Target} and got HTTP {Status}: it should have been refused in the handshake")]
    private static partial void LogLetThrough(ILogger logger, string attempt, string target, int status);

    [LoggerMessage(3, LogLevel.Information, "Intruder tried {Attempt} on {Target}: HTTP {Status}")]
    private static partial void LogAnswered(ILogger logger, string attempt, string target, int status);

    [LoggerMessage(4, LogLevel.Warning, "Intruder tried a {Attempt} on {Target}: no answer ({Error}); tries again next round")]
    private static partial void LogUnanswered(ILogger logger, string attempt, string target, string error);
}
