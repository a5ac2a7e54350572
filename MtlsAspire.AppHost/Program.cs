using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MtlsAspire.AppHost;
using MtlsAspire.Hosting;
using MtlsAspire.Hosting.Kubernetes;

// The system. A reference is a call (Aspire service discovery), the allow rule on the callee and, when published,
// a NetworkPolicy: one source of truth.
//
//   shopper ─▶ order ─┬─▶ inventory
//                      └─▶ payment ─▶ legacy-proxy ─(plain HTTP, Unix socket)─▶ legacy-ledger
//   intruder ─▶ payment, inventory   (refused, each in its own way)
var builder = DistributedApplication.CreateBuilder(AppHostArguments.Translate(args));
builder.Services.AddHostedService<ReadyReport>();
// No red "No trusted development certificate" notice on the dashboard: every https endpoint here has its own certificate.
builder.WithoutStartupNotifications();

var pki = builder.AddMtlsPki("pki");

// DCP's TCP proxy in front of every mTLS endpoint (the default), or, with false, each service listening on its
// allocated port itself: Lifecycle.Bench --latency measures what the proxy costs.
var proxied = builder.Configuration.GetValue("MtlsAspire:ProxiedEndpoints", defaultValue: true);

// WaitFor only where a caller cannot do its job without its callee: every service starts as soon as the pki has issued
// its certificate (WithMtlsIdentity waits for the pki) and reaches its callees per request, through service discovery and
// the resilience handler. The traffic sources wait for everything they call, directly or behind it, so that no request
// of theirs fails at start.
//
// AddProject, obsolete on Aspire 17, and not its replacement AddDotnetProject: AddDotnetProject runs `dotnet build` of
// every project and then one MSBuild evaluation per project (its run command) at every start of the app, before any
// service starts, for what this AppHost's own build already did and recorded (LaunchProjectsFromBuildOutput below).
// Measured: about 20 s of CPU per start, so 10 s or more to every resource healthy on 2 cores, at every end-to-end
// test's app start too (side by side under load: 55 → 79 s median); docs/aspire-17.md, "Launching projects".
#pragma warning disable CS0618
var ledger = builder.AddProject<Projects.LegacyLedger>("legacy-ledger")
    .ListenOnUnixSocket();
ledger.WithEnvironment("Ledger__Database", Path.Combine(ledger.GetDataDirectory(), "ledger.db"));

var proxy = builder.AddProject<Projects.LegacyProxy>("legacy-proxy")
    .WithHttpsEndpoint(isProxied: proxied)
    .WithMtlsIdentity(pki)
    .WithReference(ledger)
    .WithEnvironment("LegacyLedger__Socket", ledger.Resource.GetUnixSocketPath());

var inventory = builder.AddProject<Projects.Inventory>("inventory")
    .WithHttpsEndpoint(isProxied: proxied)
    .WithMtlsIdentity(pki);

var payment = builder.AddProject<Projects.Payment>("payment")
    .WithHttpsEndpoint(isProxied: proxied)
    .WithMtlsIdentity(pki)
    .WithReference(proxy);

var order = builder.AddProject<Projects.Order>("order")
    .WithHttpsEndpoint(isProxied: proxied)
    .WithMtlsIdentity(pki)
    .WithReference(inventory)
    .WithReference(payment);

if (builder.Configuration.GetValue("MtlsAspire:Workers", defaultValue: true))
{
    // An order goes through order, inventory, payment, legacy-proxy and the ledger.
    builder.AddProject<Projects.Shopper>("shopper")
        .WithMtlsIdentity(pki)
        .WithRequestOutcomes()
        .WithReference(order)
        .WaitFor(order)
        .WaitFor(inventory)
        .WaitFor(payment)
        .WaitFor(proxy)
        .WaitFor(ledger);

    // Knows where payment and inventory are, is allowed to call neither, and carries certificates they must refuse.
    builder.AddProject<Projects.Intruder>("intruder")
        .ExcludeFromManifest() // its kit of bad certificates is issued by the local PKI; not published
        .WithMtlsIdentity(pki)
        .WithRejectionKit(pki)
        .WithEndpointOf(payment)
        .WithEndpointOf(inventory)
        .WaitFor(payment)
        .WaitFor(inventory);
}
#pragma warning restore CS0618

if (builder.Configuration.GetValue("MtlsAspire:LaunchFromBuildOutput", defaultValue: true))
{
    builder.LaunchProjectsFromBuildOutput();
}

// --operation publish --step kubernetes --output-path deploy/k8s: this model as manifests with cert-manager.
builder.AddKubernetesManifests(pki);

builder.Build().Run();
