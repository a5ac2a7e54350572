using MtlsAspire.Inventory;
using MtlsAspire.Inventory.Apis;
using MtlsAspire.ServiceDefaults;
using MtlsAspire.ServiceDefaults.Mtls;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMtlsServer();
builder.Services.AddSingleton<StockBook>();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapInventoryApi();
app.Run();
