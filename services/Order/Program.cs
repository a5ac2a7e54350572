using MtlsAspire.Order;
using MtlsAspire.Order.Apis;
using MtlsAspire.ServiceDefaults;
using MtlsAspire.ServiceDefaults.Mtls;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMtlsServer();
builder.Services.AddSingleton<OrderBook>();
builder.Services.AddHttpClient<InventoryClient>(client => client.BaseAddress = new("https://inventory")).AddMtlsClient("inventory");
builder.Services.AddHttpClient<PaymentClient>(client => client.BaseAddress = new("https://payment")).AddMtlsClient("payment")
    .RemoveAllResilienceHandlers().AddStandardResilienceHandler(PaymentClient.Resilience);

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapOrdersApi();
app.Run();
