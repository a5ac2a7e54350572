using System.Net.Sockets;
using MtlsAspire.ServiceDefaults.Authorization;
using MtlsAspire.ServiceDefaults.Mtls;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;
using Yarp.ReverseProxy.Transforms;

namespace MtlsAspire.LegacyProxy;

/// <summary>
/// YARP in front of the legacy ledger: mTLS and the caller rule are done by ServiceDefaults before YARP sees the
/// request; YARP forwards plain HTTP over the ledger's Unix socket and tells the ledger who called in
/// X-Forwarded-Client-Cert (Envoy's format, built once per connection: <see cref="ForwardedClientCertValues"/>), after removing any
/// copy a client sent. No other forwarded header: the ledger reads none.
/// </summary>
public static class LegacyLedgerProxy
{
    public const string HeaderName = "X-Forwarded-Client-Cert";

    public static WebApplicationBuilder AddLegacyLedgerProxy(this WebApplicationBuilder builder)
    {
        var socket = builder.Configuration["LegacyLedger:Socket"]
            ?? throw new InvalidOperationException("LegacyLedger:Socket is required: the Unix socket path of the legacy ledger.");

        builder.Services.AddReverseProxy()
            .LoadFromMemory(
                [new RouteConfig { RouteId = "ledger", ClusterId = "legacy-ledger", Match = new RouteMatch { Path = "/api/ledger/{**rest}" } }],
                [new ClusterConfig { ClusterId = "legacy-ledger", Destinations = new Dictionary<string, DestinationConfig> { ["socket"] = new() { Address = "http://legacy-ledger" } } }])
            .ConfigureHttpClient((_, handler) => handler.ConnectCallback = async (_, cancellationToken) =>
            {
                var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await client.ConnectAsync(new UnixDomainSocketEndPoint(socket), cancellationToken);
                    return new NetworkStream(client, ownsSocket: true);
                }
                catch
                {
                    client.Dispose();
                    throw;
                }
            })
            .AddTransforms(context =>
            {
                // YARP's default X-Forwarded-For/Proto/Host/Prefix are not read by the ledger (it trusts only
                // X-Forwarded-Client-Cert): none is set, and a copy a client sent is removed rather than passed on.
                context.UseDefaultForwarders = false;
                context.AddXForwarded(ForwardedTransformActions.Remove);
                var values = context.Services.GetRequiredService<ForwardedClientCertValues>();
                context.AddRequestTransform(transform =>
                {
                    // Whatever the client sent is not evidence: only the proxy's own verified view reaches the ledger.
                    transform.ProxyRequest.Headers.Remove(HeaderName);
                    if (values.ValueFor(transform.HttpContext) is { } value)
                    {
                        transform.ProxyRequest.Headers.TryAddWithoutValidation(HeaderName, value);
                    }

                    return ValueTask.CompletedTask;
                });
            });
        builder.Services.AddSingleton<ForwardedClientCertValues>();
        return builder;
    }

    /// <summary>
    /// The proxy's pipeline. YARP answers a ledger it cannot reach with a bare 502: the caller then cannot tell a dead
    /// ledger from a dead proxy. This one says, as a problem, that legacy-ledger could not be reached and why.
    /// </summary>
    public static void UseLegacyLedgerPipeline(this IReverseProxyApplicationBuilder proxy)
    {
        proxy.Use(async (context, next) =>
        {
            await next();
            if (context.GetForwarderErrorFeature() is { } failure && !context.Response.HasStarted)
            {
                var why = failure.Exception is { } e ? $"{failure.Error} ({e.Message})" : failure.Error.ToString();
                await Results.Problem($"legacy-ledger could not be reached: {why}", statusCode: context.Response.StatusCode).ExecuteAsync(context);
            }
        });
        // YARP's default pipeline, after ours.
        proxy.UseSessionAffinity();
        proxy.UseLoadBalancing();
        proxy.UsePassiveHealthChecks();
    }
}
