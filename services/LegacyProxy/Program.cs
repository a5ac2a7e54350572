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
// Who may call: the resources that reference legacy-proxy in the app model (payment; the AppHost sets them).
app.MapReverseProxy(proxy => proxy.UseLegacyLedgerPipeline()).RequireReferencingCallers();
app.Run();
