using MtlsAspire.Intruder;
using MtlsAspire.ServiceDefaults;
using MtlsAspire.ServiceDefaults.Mtls;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Services.AddOptions<IntruderOptions>().BindConfiguration(IntruderOptions.SectionName);
// Its own, valid identity: used for the "wrong identity" attempt (payment does not allow intruder). One request per
// attempt, never retried (ServiceDefaults gives every client the standard resilience handler), so each shows once.
builder.Services.AddHttpClient("as-itself", client => client.BaseAddress = new("https://payment")).AddMtlsClient("payment")
    .RemoveAllResilienceHandlers();
builder.Services.AddHostedService<IntruderWorker>();

var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
