namespace MtlsAspire.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The whole app, started once for the "shop" collection: the shopper places no orders (the tests are the traffic) and
/// the intruder tries every 2 s.
/// </summary>
public sealed class ShopFixture : IAsyncLifetime
{
    public TestApp App { get; private set; } = null!;

    public async Task InitializeAsync() =>
        App = await TestApp.StartAsync(configure: builder =>
            builder.CreateResourceBuilder<ProjectResource>("intruder").WithEnvironment("Intruder__Interval", "00:00:02"));

    public async Task DisposeAsync() => await App.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class ShopGroup : ICollectionFixture<ShopFixture>
{
    public const string Name = "shop";
}
