using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MtlsAspire.EndToEnd.Tests.Infrastructure;

namespace MtlsAspire.Dashboard.Tests;

/// <summary>
/// The AppHost as <c>dotnet run --project MtlsAspire.AppHost</c> starts it: its own process, with the environment of its
/// launch profile (<c>Properties/launchSettings.json</c>, copied next to the tests) and nothing Aspire's testing builder
/// adds, which would switch the dashboard's notifications off. Only the profile's fixed ports become ports the OS picks,
/// so that other runs on the machine do not collide. The dashboard's login URL is read from the console, as a person would.
/// </summary>
public sealed partial class DotnetRunFixture : IAsyncLifetime, IAsyncDisposable
{
    public const string LaunchProfile = "http";

    private static readonly TimeSpan s_startTimeout = TimeSpan.FromMinutes(4);

    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<Uri> _loginUrl = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Process? _process;
    private string? _stateDirectory;

    /// <summary>The dashboard's login URL (<c>/login?t=TOKEN</c>), as printed on the console.</summary>
    public Uri LoginUrl { get; private set; } = null!;

    public Uri DashboardUrl => new(LoginUrl.GetLeftPart(UriPartial.Authority) + "/");

    public DashboardBrowser Browser { get; } = new();

    /// <summary>What the AppHost printed so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public async Task InitializeAsync()
    {
        _stateDirectory = Directory.CreateTempSubdirectory("mtls-dotnet-run-").FullName;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "MtlsAspire.AppHost.dll"), "--state-dir", _stateDirectory })
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in LaunchProfileEnvironment())
        {
            start.Environment[name] = value;
        }

        // The rest is the test run's environment. Not passed on: the root key's passphrase (the AppHost would read it and
        // protect this run's throwaway root with it), and Aspire's interactivity switch, which would decide the test's
        // outcome instead of the AppHost's own WithoutStartupNotifications().
        start.Environment.Remove("MTLS_ROOT_PASSPHRASE");
        start.Environment.Remove("ASPIRE_INTERACTIVITY_ENABLED");

        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => Collect(e.Data);
        _process.ErrorDataReceived += (_, e) => Collect(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        try
        {
            LoginUrl = await _loginUrl.Task.WaitAsync(s_startTimeout);
        }
        catch (TimeoutException)
        {
            await DisposeAsync();
            throw new TimeoutException($"The AppHost printed no dashboard login URL within {s_startTimeout}. It printed:{Environment.NewLine}{Output}");
        }
    }

    private void Collect(string? line)
    {
        lock (_output)
        {
            _output.AppendLine(line);
        }

        if (line is not null && LoginLine().Match(line) is { Success: true } login)
        {
            _loginUrl.TrySetResult(new Uri(login.Groups["url"].Value));
        }
    }

    /// <summary>
    /// What <c>dotnet run</c> puts in the AppHost's environment from the launch profile: its environment variables and its
    /// application URL as <c>ASPNETCORE_URLS</c>, every URL on 127.0.0.1 with port 0.
    /// </summary>
    private static IEnumerable<(string Name, string Value)> LaunchProfileEnvironment()
    {
        using var settings = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "AppHost.launchSettings.json")));
        var profile = settings.RootElement.GetProperty("profiles").GetProperty(LaunchProfile);
        yield return ("DOTNET_LAUNCH_PROFILE", LaunchProfile);
        yield return ("ASPNETCORE_URLS", AnyPort(profile.GetProperty("applicationUrl").GetString()!));
        foreach (var variable in profile.GetProperty("environmentVariables").EnumerateObject())
        {
            yield return (variable.Name, AnyPort(variable.Value.GetString()!));
        }
    }

    private static string AnyPort(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" ? $"{url.Scheme}://127.0.0.1:0" : value;

    [GeneratedRegex(@"Login to the dashboard at (?<url>http://127\.0\.0\.1:\d+/login\?t=[0-9a-f]+)")]
    private static partial Regex LoginLine();

    ValueTask IAsyncDisposable.DisposeAsync() => new(DisposeAsync());

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        if (Interlocked.Exchange(ref _process, null) is { } process)
        {
            using (process)
            {
                await StopAsync(process);
            }
        }

        if (Interlocked.Exchange(ref _stateDirectory, null) is { } state && Directory.Exists(state))
        {
            Directory.Delete(state, recursive: true);
        }
    }

    /// <summary>Stops the AppHost as Ctrl+C does (SIGTERM: DCP stops every service), and kills what is left after a minute.</summary>
    private static async Task StopAsync(Process process)
    {
        if (process.HasExited)
        {
            return;
        }

        // DCP detaches from the AppHost and watches it (--monitor PID): found now, while the AppHost still runs.
        var dcp = ProcessTree.DcpOf(process.Id);
        ProcessTree.Signal(process.Id, ProcessTree.Sigterm);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        // DCP stops the services once the AppHost has gone; whatever outlives it is stopped here, by process id.
        try
        {
            await Eventually.UntilAsync(_ => Task.FromResult(dcp.Where(ProcessTree.IsRunning).ToList()), running => running.Count == 0,
                TimeSpan.FromMinutes(1), running => $"DCP still running: {string.Join(", ", running)}");
        }
        catch (TimeoutException)
        {
            foreach (var pid in dcp.SelectMany(d => ProcessTree.Descendants(d).Prepend(d)).Where(ProcessTree.IsRunning))
            {
                ProcessTree.Signal(pid, ProcessTree.Sigkill);
            }
        }
    }
}

[CollectionDefinition(Name)]
public sealed class DotnetRunGroup : ICollectionFixture<DotnetRunFixture>
{
    public const string Name = "dotnet run";
}
