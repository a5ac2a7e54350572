using System.Diagnostics;

namespace MtlsAspire.EndToEnd.Tests.Infrastructure;

/// <summary>The CertBootstrap CLI run as its own process, as an operator would run it beside the AppHost.</summary>
public static class CertBootstrapProcess
{
    /// <summary>Runs the CLI with <paramref name="args"/>; kills it (by id) if it outlives <paramref name="timeout"/>.</summary>
    public static async Task<(int Exit, string Output, string Error)> RunAsync(TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "CertBootstrap.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("CertBootstrap did not start.");
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
            Assert.Fail($"CertBootstrap {string.Join(' ', args)} did not finish within {timeout}: {await output}{await error}");
        }

        return (process.ExitCode, await output, await error);
    }
}
