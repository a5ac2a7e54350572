using MtlsAspire.LegacyProxy;
using MtlsAspire.ServiceDefaults;
using MtlsAspire.ServiceDefaults.Authorization;
using MtlsAspire.ServiceDefaults.Mtls;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddMtlsServer();
builder.AddLegacyLedgerProxy();

var app = builder.Build();
app.MapDefaultEndpoints();
// Who may call: the "legacy-proxy-api" rule, which the AppHost fills from the resources that reference legacy-proxy (payment).
app.MapReverseProxy().RequireCallersFromRule("legacy-proxy-api");
app.Run();
