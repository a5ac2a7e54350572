using System.Diagnostics;

namespace MtlsAspire.CertBootstrap.Tests;

/// <summary>Runs the machine's openssl, as an independent verifier of what we issue.</summary>
public static class OpenSsl
{
    public static (int ExitCode, string Output) Run(params string[] args) => ProcessRunner.Run("openssl", args, TimeSpan.FromSeconds(30));
}

/// <summary>Starts a process, waits for it with a timeout and kills it by process id if it overstays.</summary>
public static class ProcessRunner
{
    public static (int ExitCode, string Output) Run(string fileName, IEnumerable<string> args, TimeSpan timeout, IDictionary<string, string?>? environment = null)
    {
        var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish within {timeout}.");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
