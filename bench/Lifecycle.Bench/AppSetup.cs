namespace MtlsAspire.Lifecycle.Bench;

/// <summary>How <see cref="BenchApp"/> starts the app.</summary>
/// <param name="Name">The variant's name in the tables.</param>
/// <param name="Proxied">DCP's TCP proxy in front of every mTLS endpoint (the AppHost's default), or the services' own ports
/// (<c>MtlsAspire:ProxiedEndpoints=false</c>).</param>
/// <param name="Dashboard">The Aspire dashboard runs, and the services are given its OTLP endpoint.</param>
/// <param name="Telemetry">The services' OpenTelemetry SDK is on; off is <c>OTEL_SDK_DISABLED=true</c> for every project.</param>
/// <param name="QuietLogs">ASP.NET Core's per-request Information lines are switched off in every project.</param>
internal sealed record AppSetup(string Name, bool Proxied, bool Dashboard, bool Telemetry, bool QuietLogs)
{
    /// <summary>The lifecycle phases' app: no dashboard, no telemetry, quiet logs (the load and the rotations are the subject).</summary>
    public static AppSetup Lifecycle { get; } = new("lifecycle", Proxied: true, Dashboard: false, Telemetry: false, QuietLogs: true);

    /// <summary>The app as <c>dotnet run --project MtlsAspire.AppHost</c> runs it: DCP-proxied endpoints, telemetry to the dashboard, default logs.</summary>
    public static AppSetup Default { get; } = new("default", Proxied: true, Dashboard: true, Telemetry: true, QuietLogs: false);

    /// <summary>The latency variants, each differing from <see cref="Default"/> in one thing (<c>quiet</c> in two).</summary>
    public static IReadOnlyList<AppSetup> Variants { get; } =
    [
        Default,
        Default with { Name = "no-telemetry", Telemetry = false },
        Default with { Name = "direct", Proxied = false },
        Default with { Name = "quiet", Telemetry = false, QuietLogs = true },
    ];
}
