using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MtlsAspire.ServiceDefaults.Tests.Infrastructure;

namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>What a service's logs export per request: the operator's lines, not the HttpClient handlers' chatter.</summary>
public class LogVolumeTests
{
    private static readonly Action<ILogger, Exception?> s_clientWarning = LoggerMessage.Define(LogLevel.Warning, new EventId(1), "a warning of the client handler");

    [Fact]
    public async Task HttpClient_information_lines_are_not_exported_and_its_warnings_are()
    {
        await using var scenario = await Scenario.StartAsync();
        var exported = new ExportedTelemetry();
        await using var client = await MtlsTestClient.StartAsync(scenario.IssueClient("order"), scenario.Server.Https, "payment", configure: exported.AddTo);

        for (var i = 0; i < 3; i++)
        {
            using var response = await client.Pooled().GetAsync(new Uri("/api/whoami", UriKind.Relative));
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        }

        // A Warning of the same categories is still exported (the level is cut, not the category).
        s_clientWarning(client.Services.GetRequiredService<ILoggerFactory>().CreateLogger("System.Net.Http.HttpClient.server.ClientHandler"), null);

        var logs = exported.Logs;
        Assert.Contains(logs, l => l.Level == LogLevel.Information && l.Category.StartsWith("MtlsAspire.", StringComparison.Ordinal)); // the exporter works
        Assert.DoesNotContain(logs, l => l.Level <= LogLevel.Information
            && (l.Category.StartsWith("System.Net.Http.HttpClient", StringComparison.Ordinal) || l.Category.StartsWith("Polly", StringComparison.Ordinal)));
        Assert.Contains(logs, l => l.Level == LogLevel.Warning && l.Category == "System.Net.Http.HttpClient.server.ClientHandler"
            && l.Message == "a warning of the client handler");
    }
}
