using MtlsAspire.AppHost;
using MtlsAspire.Hosting.Testing;

namespace MtlsAspire.EndToEnd.Tests;

/// <summary>The whole app, started once and shared; the shopper runs but places no orders (the tests are the traffic).</summary>
public sealed class ShopFixture : IAsyncLifetime
{
    public MtlsTestingApplication App { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var builder = MtlsTestingBuilder.Create(typeof(Program).Assembly, Program.Describe);
        builder.Builder.Resources.Single(r => r.Name == "shopper").Environment["Shopper__Enabled"] = "false";
        App = builder.Build();
        try
        {
            await App.StartAsync();
        }
        catch (Exception e)
        {
            throw new InvalidOperationException($"The app did not start: {e.Message}\n{App.Output}", e);
        }
    }

    public async Task DisposeAsync() => await App.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class ShopGroup : ICollectionFixture<ShopFixture>
{
    public const string Name = "shop";
}
