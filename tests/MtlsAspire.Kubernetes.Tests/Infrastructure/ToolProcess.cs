using System.Diagnostics;

namespace MtlsAspire.Kubernetes.Tests.Infrastructure;

/// <summary>What a finished tool run printed.</summary>
public sealed record ToolResult(int ExitCode, string Output, string Error)
{
    /// <summary>Standard output, then standard error when there is any.</summary>
    public string Everything => string.Join('\n', new[] { Output.TrimEnd(), Error.TrimEnd() }.Where(text => text.Length > 0));
}

/// <summary>
/// Runs one of the machine's tools (node, npm, kubectl) as a child process: stdin closed, both outputs read,
/// waited for, and killed by its process id (with its children) if it outlives its timeout.
/// </summary>
public static class ToolProcess
{
    /// <summary>Where the tools come from when one is missing, for the failure message.</summary>
    public const string InstalledBy =
        "`.ci/run` installs them on a Debian machine (apt-get install nodejs npm kubernetes-client, then npm ci in tests/MtlsAspire.Kubernetes.Tests/schema)";

    public static async Task<ToolResult> RunAsync(string tool, IEnumerable<string> args, string workingDirectory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(Find(tool, Environment.GetEnvironmentVariable("PATH")))
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // npm asks nothing and phones nowhere it need not.
        start.Environment["npm_config_update_notifier"] = "false";
        return await RunAsync(start, timeout);
    }

    /// <summary>Runs <paramref name="start"/> the same way (stdin closed, outputs read, killed by id on timeout).</summary>
    public static async Task<ToolResult> RunAsync(ProcessStartInfo start, TimeSpan timeout)
    {
        start.RedirectStandardInput = true;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var tool = Path.GetFileName(start.FileName);
        var args = start.ArgumentList;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{tool} did not start.");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException(
                $"{tool} {string.Join(' ', args)} (process {process.Id}) did not finish within {timeout} and was killed:\n{await output}{await error}");
        }

        return new ToolResult(process.ExitCode, await output, await error);
    }

    /// <summary>The full path of <paramref name="tool"/> on <paramref name="searchPath"/>; a missing tool fails the test, saying who installs it.</summary>
    public static string Find(string tool, string? searchPath)
    {
        foreach (var directory in (searchPath ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, tool);
            if (File.Exists(candidate) && (File.GetUnixFileMode(candidate) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0)
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            $"`{tool}` is not on PATH. The Kubernetes tests need node and npm (schema validation) and kubectl (kustomize); {InstalledBy}.");
    }
}
