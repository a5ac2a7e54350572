using MtlsAspire.EndToEnd.Tests.Infrastructure;
using MtlsAspire.Hosting;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>
/// What waits for what at start, read from the real AppHost's model (nothing is started): a service waits only for the
/// pki (its certificate), so they all start at once; the shopper waits for every resource an order passes through, the
/// intruder for the services it tries.
/// </summary>
public class StartOrderTests
{
    [Fact]
    public async Task Services_wait_only_for_the_pki_and_the_shopper_waits_for_every_resource_its_orders_reach()
    {
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.MtlsAspire_AppHost>(["--state-dir", TestApp.NewStateDirectory()]);
        var resources = builder.Resources.Where(r => r is ProjectResource or PkiResource).ToList();
        string[] WaitsOf(string name) =>
            [.. resources.Single(r => r.Name == name).Annotations.OfType<WaitAnnotation>().Select(w => w.Resource.Name).Distinct().Order(StringComparer.Ordinal)];

        Assert.Empty(WaitsOf("pki"));
        Assert.Empty(WaitsOf("legacy-ledger"));
        foreach (var service in new[] { "legacy-proxy", "inventory", "payment", "order" })
        {
            Assert.Equal(["pki"], WaitsOf(service));
        }

        Assert.Equal(["inventory", "payment", "pki"], WaitsOf("intruder"));

        // Everything the shopper reaches by references, directly (order) or behind (inventory, payment, legacy-proxy, ledger).
        var reached = new SortedSet<string>(StringComparer.Ordinal);
        var next = new Queue<string>(["shopper"]);
        while (next.TryDequeue(out var caller))
        {
            foreach (var callee in resources.Single(r => r.Name == caller).Annotations.OfType<ResourceRelationshipAnnotation>()
                .Where(a => a.Type == "Reference").Select(a => a.Resource.Name))
            {
                if (reached.Add(callee))
                {
                    next.Enqueue(callee);
                }
            }
        }

        Assert.Equal(["inventory", "legacy-ledger", "legacy-proxy", "order", "payment"], reached);
        Assert.Equal([.. reached.Append("pki").Order(StringComparer.Ordinal)], WaitsOf("shopper"));
    }
}
