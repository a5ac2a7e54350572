using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>The real command: the AppHost executable, stopped by SIGTERM as Ctrl+C or a process manager would.</summary>
public partial class AppHostProcessTests
{
    [GeneratedRegex(@"started (?<name>[a-z-]+) \(pid (?<pid>\d+)\)")]
    private static partial Regex Started();

    [Fact]
    public async Task Sigterm_stops_every_child_and_the_apphost_exits_cleanly()
    {
        var state = Path.Combine(Path.GetTempPath(), "mtls-apphost-tests", Guid.NewGuid().ToString("N")[..12]);
        var appHost = Path.Combine(AppContext.BaseDirectory, "MtlsAspire.AppHost.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { appHost, "--state-dir", state, "--no-workers" })
        {
            start.ArgumentList.Add(arg);
        }

        var output = new System.Text.StringBuilder();
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) =>
        {
            lock (output)
            {
                output.AppendLine(e.Data);
            }

            if (e.Data?.Contains("running; press Ctrl+C to stop", StringComparison.Ordinal) == true)
            {
                running.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (output)
            {
                output.AppendLine(e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await running.Task.WaitAsync(TimeSpan.FromSeconds(90));
            string text;
            lock (output)
            {
                text = output.ToString();
            }

            var children = Started().Matches(text).Select(m => int.Parse(m.Groups["pid"].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(5, children.Count); // ledger, proxy, inventory, payment, order

            Assert.Equal(0, Kill(process.Id, 15));
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

            Assert.Equal(0, process.ExitCode);
            Assert.All(children, pid => Assert.False(File.Exists($"/proc/{pid}/stat") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal),
                $"child {pid} still runs"));
            lock (output)
            {
                Assert.Contains("stopped order", output.ToString(), StringComparison.Ordinal);
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (Directory.Exists(state))
            {
                Directory.Delete(state, recursive: true);
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
