using MtlsAspire.ServiceDefaults;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.Shopper;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Services.AddOptions<ShopperOptions>().BindConfiguration(ShopperOptions.SectionName);
builder.Services.AddHttpClient<ShopperWorker>(client => client.BaseAddress = new("https://order")).AddMtlsClient("order");
builder.Services.AddHostedService(services => services.GetRequiredService<ShopperWorker>());

var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
