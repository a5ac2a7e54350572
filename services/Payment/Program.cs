using MtlsAspire.Payment;
using MtlsAspire.Payment.Apis;
using MtlsAspire.ServiceDefaults;
using MtlsAspire.ServiceDefaults.Mtls;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMtlsServer();
builder.Services.AddSingleton<ChargeBook>();
builder.Services.AddHttpClient<LedgerClient>(client => client.BaseAddress = new("https://legacy-proxy")).AddMtlsClient("legacy-proxy")
    .RemoveAllResilienceHandlers().AddStandardResilienceHandler(LedgerClient.Resilience);

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapPaymentsApi();
app.Run();
