using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;

namespace MtlsAspire.Dashboard.Tests;

/// <summary>
/// No private key and no root passphrase reaches what an operator sees: every console log line of every resource (the
/// pki's timeline included), every structured log and span the dashboard received over OTLP, and every resource's
/// details (properties, environment, URLs) — after a renewal and the intruder's refused handshakes have been logged.
/// </summary>
[Collection(DashboardGroup.Name)]
public sealed class SecretsTests(DashboardFixture fixture)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task No_private_key_or_passphrase_appears_in_console_logs_telemetry_or_resource_details()
    {
        // Something of every kind worth logging has happened: a renewal (and its reload) and refused handshakes.
        var renewed = await fixture.App.ResourceCommands.ExecuteCommandAsync("payment", "renew-certificate");
        Assert.True(renewed.Success, renewed.Message);
        using var api = await TelemetryApi.ConnectAsync(fixture.DashboardUrl, fixture.BrowserToken);
        await Eventually.UntilAsync(ct => api.LogsAsync("payment", "warning", cancellationToken: ct),
            logs => logs.Any(l => l["Reason"] is not null), s_timeout, _ => "no handshake refusal logged by payment");

        var secrets = SecretMaterial.Load(fixture.StateDirectory);
        Assert.True(secrets.Passphrases >= 1, "the state directory holds the root key's generated passphrase");
        // The root, an intermediate and a key per identity at least: a scan of nothing would prove nothing.
        Assert.True(secrets.KeyFiles >= 2 + DashboardFixture.Identities.Length, $"only {secrets.KeyFiles} key files found");
        // The detector sees a key and the passphrase where they are.
        var paymentKey = Path.Combine(fixture.StateDirectory, "pki", "services", "payment", "tls.key");
        Assert.NotEmpty(secrets.FindIn(File.ReadAllText(paymentKey)));
        var passphraseFile = Directory.EnumerateFiles(fixture.StateDirectory, "passphrase", SearchOption.AllDirectories).First();
        Assert.NotEmpty(secrets.FindIn($"a log line: {File.ReadAllText(passphraseFile).Trim()}."));

        var texts = new List<(string Where, string Text)>();
        var model = fixture.App.Services.GetRequiredService<DistributedApplicationModel>();
        var loggers = fixture.App.Services.GetRequiredService<ResourceLoggerService>();
        foreach (var resource in model.Resources.Where(r => DashboardFixture.Resources.Contains(r.Name)))
        {
            await foreach (var batch in loggers.GetAllAsync(resource))
            {
                texts.AddRange(batch.Select(line => ($"{resource.Name}'s console log", line.Content)));
            }

            if (fixture.App.ResourceNotifications.TryGetCurrentState(resource.Name, out var state))
            {
                var snapshot = state.Snapshot;
                texts.AddRange(snapshot.Properties.Select(p => ($"{resource.Name}'s property {p.Name}", $"{p.Name}={p.Value}")));
                texts.AddRange(snapshot.EnvironmentVariables.Select(e => ($"{resource.Name}'s environment", $"{e.Name}={e.Value}")));
                texts.AddRange(snapshot.Urls.Select(u => ($"{resource.Name}'s URL", u.Url)));
            }
        }

        Assert.Contains(texts, t => t.Where == "pki's console log" && t.Text.Contains("renewed (on request)", StringComparison.Ordinal));
        var consoleLines = texts.Count;

        foreach (var query in (string[])["api/telemetry/logs?severity=trace&limit=10000", "api/telemetry/spans?limit=10000"])
        {
            using var response = await api.GetAsync(query);
            Assert.True(response.IsSuccessStatusCode, $"GET {query}: {(int)response.StatusCode}");
            using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            texts.AddRange(StringsOf(document.RootElement).Select(s => (query, s)));
        }

        Assert.True(texts.Count > consoleLines + 100, $"the dashboard returned only {texts.Count - consoleLines} telemetry strings");
        var leaks = texts.SelectMany(t => secrets.FindIn(t.Text).Select(form => $"{form} in {t.Where}")).Distinct().ToList();
        Assert.True(leaks.Count == 0, $"{secrets.Needles} secret forms searched in {texts.Count} texts; found:\n{string.Join("\n", leaks.Take(20))}");
    }

    /// <summary>Every property name and string value of an OTLP JSON document, decoded (JSON escapes base64's '+').</summary>
    private static IEnumerable<string> StringsOf(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                yield return element.GetString()!;
                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    yield return property.Name;
                    foreach (var text in StringsOf(property.Value))
                    {
                        yield return text;
                    }
                }

                break;
            case JsonValueKind.Array:
                foreach (var text in element.EnumerateArray().SelectMany(StringsOf))
                {
                    yield return text;
                }

                break;
        }
    }
}
