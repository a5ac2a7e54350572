using MtlsAspire.LegacyLedger;
using MtlsAspire.LegacyLedger.Apis;
using MtlsAspire.ServiceDefaults;

// Stands for an application we may not change: plain HTTP, no TLS, trusts whatever caller identity its proxy
// tells it. It listens only on a Unix domain socket in a 0700 directory (ASPNETCORE_URLS=http://unix:/…/ledger.sock),
// so nothing but legacy-proxy, running as the same user, can reach it.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.Services.AddSingleton<LedgerStore>();
StaleSocket.RemoveIfDead(builder.Configuration["urls"]);

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapLedgerApi();
app.Run();
