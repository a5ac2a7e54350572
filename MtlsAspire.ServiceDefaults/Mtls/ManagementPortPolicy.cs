using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// Keeps the two kinds of port apart on the endpoint routing matched, not on the raw path (routing ignores case and a
/// trailing slash, so a path comparison would let <c>/HEALTH/</c> through): on the mTLS port an endpoint with
/// <see cref="ManagementEndpointMetadata"/> is no candidate, so the request goes on as any unknown path does; on the plain
/// port only those endpoints are candidates, and only for GET and HEAD. A plain-port request left without an endpoint is
/// refused by <see cref="ManagementPortRefusal"/> (405 when it asked a management endpoint with another method).
/// </summary>
internal sealed class ManagementPortPolicy : MatcherPolicy, IEndpointSelectorPolicy
{
    private static readonly object s_wrongMethod = new();

    /// <summary>After the built-in policies (HTTP method, host), which only narrow the candidates further.</summary>
    public override int Order => 1000;

    /// <summary>Every endpoint: on the plain port even an API endpoint must be ruled out.</summary>
    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) => true;

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        var plain = httpContext.Features.Get<ITlsHandshakeFeature>() is null;
        var readOnly = HttpMethods.IsGet(httpContext.Request.Method) || HttpMethods.IsHead(httpContext.Request.Method);
        for (var i = 0; i < candidates.Count; i++)
        {
            if (!candidates.IsValidCandidate(i))
            {
                continue;
            }

            var management = candidates[i].Endpoint.Metadata.GetMetadata<ManagementEndpointMetadata>() is not null;
            if (plain && management && !readOnly)
            {
                httpContext.Items[s_wrongMethod] = true;
            }

            candidates.SetValidity(i, plain ? management && readOnly : !management);
        }

        return Task.CompletedTask;
    }

    /// <summary>True when this plain-port request matched a management endpoint, but not with GET or HEAD.</summary>
    internal static bool AskedWithWrongMethod(HttpContext httpContext) => httpContext.Items.ContainsKey(s_wrongMethod);
}
