using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.AppHost;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Hosting;
using MtlsAspire.Hosting.Testing;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>Renewal under traffic, clean stops, and the ways a start can go wrong.</summary>
public class LifecycleTests
{
    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static MtlsTestingApplication QuietShop(Action<MtlsApplicationOptions>? configure = null, Action<MtlsApplicationBuilder>? describe = null)
    {
        var builder = MtlsTestingBuilder.Create(typeof(Program).Assembly, describe ?? Program.Describe, configure);
        if (builder.Builder.Resources.FirstOrDefault(r => r.Name == "shopper") is { } shopper)
        {
            shopper.Environment["Shopper__Enabled"] = "false";
        }

        return builder.Build();
    }

    [Fact]
    public async Task Renewing_every_leaf_while_orders_flow_fails_no_request_and_each_service_serves_its_new_certificate()
    {
        await using var app = QuietShop();
        await app.StartAsync();
        var failures = new ConcurrentQueue<string>();
        var placed = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var shopper = app.CreateHttpClient("order", asIdentity: "shopper");
        var loop = Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await shopper.PostAsJsonAsync("/api/orders", new { sku = "coffee", quantity = 1, amount = 10m }, stop.Token);
                    if (response.StatusCode != System.Net.HttpStatusCode.Created)
                    {
                        failures.Enqueue($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                    }

                    Interlocked.Increment(ref placed);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    failures.Enqueue(e.Message);
                }
            }
        })));

        await Until(() => Volatile.Read(ref placed) >= 10, "orders flowing");
        foreach (var service in new[] { "inventory", "payment", "legacy-proxy", "order" })
        {
            var renewed = app.Application.Authority.Renew(service);
            await Until(async () => await app.ServedCertificateSerialAsync(service, "shopper") == renewed.Entry.Serial, $"{service} serving its renewed certificate");
        }

        var after = Volatile.Read(ref placed);
        await Until(() => Volatile.Read(ref placed) >= after + 20, "orders flowing after the renewals");
        await stop.CancelAsync();
        await loop;

        Assert.Empty(failures);
    }

    [Fact]
    public async Task Stopping_the_app_leaves_no_child_process()
    {
        var app = QuietShop(options => options.Workers = false);
        await app.StartAsync();
        var pids = app.Application.ProcessIds.Values.ToList();
        Assert.All(pids, pid => Assert.True(IsRunning(pid)));

        await app.DisposeAsync();

        Assert.All(pids, pid => Assert.False(IsRunning(pid), $"pid {pid} still runs"));
    }

    [Fact]
    public async Task A_service_that_crashes_at_start_is_named_with_its_exit_code_and_everything_started_is_stopped()
    {
        // legacy-proxy without the ledger's socket setting refuses to start.
        await using var app = QuietShop(options => options.Workers = false, builder =>
        {
            builder.AddProject("inventory", "Inventory").WithMtlsIdentity();
            builder.AddProject("legacy-proxy", "LegacyProxy").WithMtlsIdentity();
        });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync());

        Assert.Contains("Resource 'legacy-proxy' exited with code", error.Message, StringComparison.Ordinal);
        Assert.Contains("LegacyLedger:Socket is required", error.Message, StringComparison.Ordinal);
        Assert.All(app.Application.ProcessIds.Values, pid => Assert.False(IsRunning(pid), $"pid {pid} still runs"));
    }

    [Fact]
    public async Task A_missing_build_output_is_named_before_anything_starts()
    {
        await using var app = QuietShop(options => options.Configuration = "NoSuchConfiguration");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync());

        Assert.Contains("Resource 'legacy-ledger': its build output", error.Message, StringComparison.Ordinal);
        Assert.Contains("NoSuchConfiguration", error.Message, StringComparison.Ordinal);
        Assert.Empty(app.Application.ProcessIds);
    }

    [Fact]
    public async Task A_state_dir_from_an_older_run_with_expired_certificates_is_renewed_at_start()
    {
        var state = Path.Combine(Path.GetTempPath(), "mtls-apphost-tests", Guid.NewGuid().ToString("N")[..12]);
        var past = new FakeTimeProvider(DateTimeOffset.UtcNow.AddDays(-3));
        var (old, _) = CertificateAuthority.Initialize(Path.Combine(state, "pki"), new PkiSettings(), PassphraseSource.FromFileOrEnvironment(null), past);
        var expired = new[] { "inventory", "payment", "legacy-proxy", "order" }
            .ToDictionary(s => s, s => old.Issue(new LeafRequest(s) { DnsNames = ["localhost"] }).Entry.Serial);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();

        await using var app = QuietShop(options =>
        {
            options.StateDirectory = state;
            options.Workers = false;
        });
        await app.StartAsync();

        foreach (var (service, serial) in expired)
        {
            Assert.NotEqual(serial, await app.ServedCertificateSerialAsync(service, "order"));
        }

        Assert.Contains("re-issued (the previous run's had expired)", app.Output, StringComparison.Ordinal);
    }

    private static Task Until(Func<bool> condition, string what) => Until(() => Task.FromResult(condition()), what);

    private static async Task Until(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting for: {what}");
            await Task.Delay(50);
        }
    }
}
