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

var pki = builder.AddMtlsPki("pki");

// DCP's TCP proxy in front of every mTLS endpoint (the default), or, with false, each service listening on its
// allocated port itself: Lifecycle.Bench --latency measures what the proxy costs.
var proxied = builder.Configuration.GetValue("MtlsAspire:ProxiedEndpoints", defaultValue: true);

var ledger = builder.AddProject<Projects.LegacyLedger>("legacy-ledger")
    .ListenOnUnixSocket();
ledger.WithEnvironment("Ledger__Database", Path.Combine(ledger.GetDataDirectory(), "ledger.db"));

var proxy = builder.AddProject<Projects.LegacyProxy>("legacy-proxy")
    .WithHttpsEndpoint(isProxied: proxied)
    .WithMtlsIdentity(pki)
    .WithReference(ledger)
    .WithEnvironment("LegacyLedger__Socket", ledger.Resource.GetUnixSocketPath())
    .WaitFor(ledger);

var inventory = builder.AddProject<Projects.Inventory>("inventory")
    .WithHttpsEndpoint(isProxied: proxied)
    .WithMtlsIdentity(pki);

var payment = builder.AddProject<Projects.Payment>("payment")
    .WithHttpsEndpoint(isProxied: proxied)
    .WithMtlsIdentity(pki)
    .WithReference(proxy)
    .WaitFor(proxy);

var order = builder.AddProject<Projects.Order>("order")
    .WithHttpsEndpoint(isProxied: proxied)
    .WithMtlsIdentity(pki)
    .WithReference(inventory)
    .WithReference(payment)
    .WaitFor(inventory)
    .WaitFor(payment);

if (builder.Configuration.GetValue("MtlsAspire:Workers", defaultValue: true))
{
    builder.AddProject<Projects.Shopper>("shopper")
        .WithMtlsIdentity(pki)
        .WithRequestOutcomes()
        .WithReference(order)
        .WaitFor(order);

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

// --operation publish --step kubernetes --output-path deploy/k8s: this model as manifests with cert-manager.
builder.AddKubernetesManifests(pki);

builder.Build().Run();
