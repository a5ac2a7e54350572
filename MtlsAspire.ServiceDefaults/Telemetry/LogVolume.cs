using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace MtlsAspire.ServiceDefaults.Telemetry;

/// <summary>
/// The default log levels that keep a service's logs to what an operator reads, each one overridable by configuration
/// (<c>Logging:LogLevel:…</c>, <c>Logging:Console:LogLevel:…</c>, which win over these defaults):
/// <list type="bullet">
/// <item><c>System.Net.Http.HttpClient</c> and <c>Polly</c> at Warning: the client handlers write four Information lines
/// per attempt of every outgoing request (about 20 per order), which traces already show as spans.</item>
/// <item>When logs are exported over OTLP (under the AppHost, the dashboard's structured logs), the console gets Warnings
/// and above, plus the host's lifetime lines (listening, started, stopping) and the mTLS lines (credentials loaded,
/// rotated, refused) at Information: the dashboard's console view of a service still shows its start, its credentials
/// and every refusal, and the rest, which OTLP already sends, is not written, captured and tailed a second time.</item>
/// </list>
/// </summary>
internal static class LogVolume
{
    private static readonly string s_console = typeof(ConsoleLoggerProvider).FullName!;

    /// <summary>The rules, first in the list so that configuration's rules for the same category and provider win.</summary>
    public static void AddDefaults(LoggerFilterOptions options, bool exportsLogs)
    {
        List<LoggerFilterRule> defaults =
        [
            new(null, "System.Net.Http.HttpClient", LogLevel.Warning, null),
            new(null, "Polly", LogLevel.Warning, null),
        ];
        if (exportsLogs)
        {
            defaults.Add(new(s_console, null, LogLevel.Warning, null));
            defaults.Add(new(s_console, "Microsoft.Hosting.Lifetime", LogLevel.Information, null));
            defaults.Add(new(s_console, "MtlsAspire.Mtls", LogLevel.Information, null));
            defaults.Add(new(s_console, "MtlsAspire.ServiceDefaults", LogLevel.Information, null));
        }

        for (var i = 0; i < defaults.Count; i++)
        {
            options.Rules.Insert(i, defaults[i]);
        }
    }
}
