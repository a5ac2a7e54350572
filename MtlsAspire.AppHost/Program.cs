using MtlsAspire.Hosting;

namespace MtlsAspire.AppHost;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        MtlsApplicationOptions options;
        try
        {
            options = MtlsApplicationOptions.Parse(args);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return 2;
        }

        var builder = new MtlsApplicationBuilder(options, typeof(Program).Assembly);
        Describe(builder);
        await using var app = builder.Build();
        return await app.RunAsync();
    }

    /// <summary>
    /// The system. A reference is a call, an allow rule on the callee and a NetworkPolicy: one source of truth.
    /// <code>
    /// shopper ─▶ order ─┬─▶ inventory
    ///                    └─▶ payment ─▶ legacy-proxy ─(plain HTTP, Unix socket)─▶ legacy-ledger
    /// intruder ─▶ payment, inventory   (refused, each in its own way)
    /// </code>
    /// </summary>
    public static void Describe(MtlsApplicationBuilder builder)
    {
        var ledger = builder.AddProject("legacy-ledger", "LegacyLedger")
            .ListenOnUnixSocket();
        ledger.WithEnvironment("Ledger__Database", Path.Combine(ledger.Resource.DataDirectory, "ledger.db"));

        var proxy = builder.AddProject("legacy-proxy", "LegacyProxy")
            .WithMtlsIdentity()
            .WithReference(ledger)
            .WithEnvironment("LegacyLedger__Socket", ledger.Resource.SocketPath)
            .WaitFor(ledger);

        var inventory = builder.AddProject("inventory", "Inventory")
            .WithMtlsIdentity();

        var payment = builder.AddProject("payment", "Payment")
            .WithMtlsIdentity()
            .WithReference(proxy)
            .WaitFor(proxy);

        var order = builder.AddProject("order", "Order")
            .WithMtlsIdentity()
            .WithReference(inventory)
            .WithReference(payment)
            .WaitFor(inventory)
            .WaitFor(payment);

        builder.AddProject("shopper", "Shopper")
            .AsWorker()
            .WithMtlsIdentity()
            .WithReference(order)
            .WaitFor(order);

        // Knows where payment and inventory are, is allowed to call neither, and carries certificates they must refuse.
        builder.AddProject("intruder", "Intruder")
            .AsWorker()
            .WithMtlsIdentity()
            .WithRejectionKit()
            .WithEndpointOf(payment)
            .WithEndpointOf(inventory)
            .WaitFor(payment)
            .WaitFor(inventory);
    }
}
