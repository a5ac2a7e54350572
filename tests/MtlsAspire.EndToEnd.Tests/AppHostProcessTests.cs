using System.Diagnostics;
using MtlsAspire.EndToEnd.Tests.Infrastructure;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>
/// The real command: the AppHost executable with DCP and the dashboard, stopped by SIGTERM as Ctrl+C or a process manager
/// would, or killed with SIGKILL (a crash, the OOM killer): DCP watches the AppHost and stops everything it started. Its
/// shell environment carries a stray Mtls setting, which no service may inherit.
/// </summary>
public class AppHostProcessTests
{
    private const int Sigterm = ProcessTree.Sigterm, Sigkill = ProcessTree.Sigkill;
    private const string StrayVariable = "Mtls__Authorization__ReferencedBy__7";

    [Theory]
    [InlineData(Sigterm)]
    [InlineData(Sigkill)]
    public async Task Stopping_or_killing_the_apphost_stops_dcp_the_dashboard_and_every_service(int signal)
    {
        var state = TestApp.NewStateDirectory();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "MtlsAspire.AppHost.dll"), "--state-dir", state, "--no-workers" })
        {
            start.ArgumentList.Add(arg);
        }

        // What the launch profile gives `dotnet run`, on ports the OS picks.
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"] = "http://127.0.0.1:0";
        start.Environment["ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL"] = "http://127.0.0.1:0";
        start.Environment["ASPIRE_ALLOW_UNSECURED_TRANSPORT"] = "true";
        // What a forgotten export in the shell looks like: an allow rule for a caller no reference names.
        var strayCaller = $"spiffe://mtls-aspire.local/ns/development/sa/stray-{Guid.NewGuid():N}";
        start.Environment[StrayVariable] = strayCaller;

        var output = new System.Text.StringBuilder();
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var process = new Process { StartInfo = start };
        IReadOnlyList<int> started = [];
        void Collect(string? line)
        {
            lock (output)
            {
                output.AppendLine(line);
            }

            if (line?.Contains("Distributed application started", StringComparison.Ordinal) == true)
            {
                running.TrySetResult();
            }
        }

        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await running.Task.WaitAsync(TimeSpan.FromMinutes(3));
            var endpoints = Path.Combine(state, "endpoints.json");
            // DCP detaches from the AppHost (it watches it with --monitor PID); the services run under DCP.
            IReadOnlyList<int> Started() => [.. ProcessTree.Descendants(process.Id), .. ProcessTree.DcpOf(process.Id).SelectMany(d => ProcessTree.Descendants(d).Prepend(d))];
            await Eventually.Until(() => Started().Select(ProcessTree.CommandLine)
                .Count(c => c.Contains("/bin/", StringComparison.Ordinal) && c.Contains("/services/", StringComparison.Ordinal)) == 5,
                "ledger, proxy, inventory, payment and order running", TimeSpan.FromMinutes(2));
            var children = Started().Distinct().ToList();
            started = children; // from here on, whatever fails, the finally block stops them by process id
            // Each service runs from its build output (dotnet {assembly}), not through `dotnet run`, which evaluates the project first.
            Assert.DoesNotContain(children, pid => ProcessTree.CommandLine(pid).StartsWith("dotnet run", StringComparison.Ordinal));
            Assert.Contains(children, pid => ProcessTree.CommandLine(pid).Contains("dcp", StringComparison.Ordinal));
            Assert.Contains(children, pid => ProcessTree.CommandLine(pid).Contains("Aspire.Dashboard", StringComparison.Ordinal));
            Assert.True(File.Exists(endpoints));
            // The dashboard prints its login URL when it has started, which can come after the services (they wait only for pki).
            await Eventually.Until(() =>
            {
                lock (output)
                {
                    return output.ToString().Contains("Login to the dashboard at http://127.0.0.1:", StringComparison.Ordinal);
                }
            }, "the dashboard's login URL", TimeSpan.FromMinutes(1));
            foreach (var service in children.Where(pid => ProcessTree.CommandLine(pid).Contains("/services/", StringComparison.Ordinal)))
            {
                Assert.DoesNotContain(strayCaller, File.ReadAllText($"/proc/{service}/environ"), StringComparison.Ordinal);
            }

            await Eventually.Until(() =>
            {
                lock (output)
                {
                    return output.ToString().Contains($"Dropped {StrayVariable} from the AppHost's environment", StringComparison.Ordinal);
                }
            }, $"the AppHost's log to name {StrayVariable}");
            lock (output)
            {
                Assert.DoesNotContain(strayCaller, output.ToString(), StringComparison.Ordinal);
            }

            Assert.True(ProcessTree.Signal(process.Id, signal));
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(90));

            // SIGTERM: a clean exit. SIGKILL: the AppHost had no say; what is tested is that nothing it started outlives it.
            Assert.Equal(signal == Sigterm ? 0 : 128 + Sigkill, process.ExitCode);
            await Eventually.Until(() => !children.Any(ProcessTree.IsRunning),
                $"every process the AppHost started (DCP, dashboard, services) to stop; running: {string.Join(", ", children.Where(ProcessTree.IsRunning).Select(ProcessTree.CommandLine))}",
                TimeSpan.FromSeconds(60));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            // Whatever outlived a failed test is stopped here, by process id.
            foreach (var pid in started.Where(ProcessTree.IsRunning))
            {
                ProcessTree.Signal(pid, Sigkill);
            }

            if (Directory.Exists(state))
            {
                Directory.Delete(state, recursive: true);
            }
        }
    }
}
