using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MtlsAspire.Verification.Identity;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Telemetry;

namespace MtlsAspire.ServiceDefaults.Authorization;

/// <summary>Endpoint metadata: the callers allowed, as written next to the route.</summary>
/// <param name="Callers">Service names (same trust domain and environment), SPIFFE IDs, or "*" for any member of the trust domain.</param>
public sealed record AllowedCallers(IReadOnlyList<string> Callers);

/// <summary>Endpoint metadata: the callers allowed come from the configured rule <paramref name="Rule"/> (<c>Mtls:Authorization:Rules:{rule}</c>).</summary>
/// <param name="Rule">The rule's name.</param>
public sealed record AllowedCallersRule(string Rule);

/// <summary>Endpoint metadata: the callers allowed are those that reference this service in the app model (<c>Mtls:Authorization:ReferencedBy</c>).</summary>
public sealed record AllowedReferencingCallers;

/// <summary>The requirement that the caller's SPIFFE ID is allowed by the endpoint's rule.</summary>
public sealed class CallerRequirement : IAuthorizationRequirement;

/// <summary>Puts the caller rule next to the route: <c>app.MapPost(...).RequireCaller("order")</c>.</summary>
public static class CallerAuthorizationExtensions
{
    /// <summary>Only these callers may call the endpoint: service names, SPIFFE IDs, or "*" (any member of the trust domain).</summary>
    public static TBuilder RequireCaller<TBuilder>(this TBuilder builder, params string[] callers) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AllowedCallers(callers)).RequireAuthorization(MtlsAuthenticationDefaults.CallerPolicy);

    /// <summary>The callers allowed come from a hand-written configuration rule, <c>Mtls:Authorization:Rules:{rule}</c>.</summary>
    public static TBuilder RequireCallersFromRule<TBuilder>(this TBuilder builder, string rule) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AllowedCallersRule(rule)).RequireAuthorization(MtlsAuthenticationDefaults.CallerPolicy);

    /// <summary>
    /// Exactly the callers that reference this service in the app model may call: <c>Mtls:Authorization:ReferencedBy</c>,
    /// which the AppHost sets. A reference is the authorization rule; there is no second list to keep in sync.
    /// </summary>
    public static TBuilder RequireReferencingCallers<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AllowedReferencingCallers()).RequireAuthorization(MtlsAuthenticationDefaults.CallerPolicy);
}

/// <summary>
/// Decides <see cref="CallerRequirement"/>: allow, deny (403 naming caller and endpoint), or in audit mode log and
/// count a would-be denial and allow. Every decision is counted in <c>mtls.authz.decisions</c>. The endpoint's rule is
/// compiled once (<see cref="CallerRules"/>); allowing a caller formats no text unless the Debug log is on.
/// </summary>
internal sealed class CallerAuthorizationHandler(IOptionsMonitor<MtlsOptions> options, CallerRules rules, MtlsTelemetry telemetry,
    ILogger<CallerAuthorizationHandler> logger) : AuthorizationHandler<CallerRequirement, HttpContext>
{
    internal const string DenialItem = "mtls.authorization.denial";

    /// <summary>The reason of a 403 in logs: the caller's identity is valid, the endpoint's rule does not name it.</summary>
    private const string NotAllowedReason = "caller-not-allowed";

    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, CallerRequirement requirement, HttpContext http)
    {
        var caller = context.User.GetSpiffeId();
        if (caller.IsEmpty)
        {
            return Task.CompletedTask; // not authenticated: 401 from the challenge
        }

        var rule = rules.For(http.GetEndpoint());
        var method = http.Request.Method;
        // The connection's caller name was formatted at its handshake.
        var callerName = http.Features.Get<ConnectionTrust>() is { CallerName: { } name } trust && trust.Identity == caller
            ? name
            : caller.ServiceName ?? caller.ToString();
        if (rule.Allows(caller))
        {
            telemetry.AuthorizationDecision("allow", callerName, rule.CalleeTag(method));
            if (logger.IsEnabled(LogLevel.Debug))
            {
                MtlsLog.AuthorizationAllowed(logger, caller.ToString(), rule.Callee(method));
            }

            context.Succeed(requirement);
            return Task.CompletedTask;
        }

        var callee = rule.Callee(method);
        var allowedText = rule.AllowedText;
        var peerAddress = $"{http.Connection.RemoteIpAddress}:{http.Connection.RemotePort}";
        var certificate = http.Connection.ClientCertificate;
        var audit = options.CurrentValue.Authorization.Mode == AuthorizationMode.Audit;
        telemetry.AuthorizationDecision(audit ? "audit-deny" : "deny", callerName, rule.CalleeTag(method));
        // Counted above every time; logged in full only so far per window (Mtls:RefusalLogs), then summed up.
        var logged = telemetry.RefusalLogs.Admit(audit ? RequestRefusalKind.AuditDenied : RequestRefusalKind.CallerNotAllowed,
            new RefusalLogLimiter.RequestRefusal(rule.Self, caller.ToString(), callee, peerAddress));
        if (audit)
        {
            if (logged)
            {
                MtlsLog.AuthorizationAuditDenied(logger, caller.ToString(), callee, allowedText, "server", NotAllowedReason, peerAddress,
                    certificate?.Subject ?? "-", certificate?.SerialNumber ?? "-");
            }

            context.Succeed(requirement);
            return Task.CompletedTask;
        }

        if (logged)
        {
            MtlsLog.AuthorizationDenied(logger, caller.ToString(), callee, allowedText, "server", NotAllowedReason, peerAddress,
                certificate?.Subject ?? "-", certificate?.SerialNumber ?? "-");
        }

        http.Items[DenialItem] = new Denial(caller, callee, allowedText);
        return Task.CompletedTask;
    }

    internal sealed record Denial(SpiffeId Caller, string Callee, string Allowed);
}

/// <summary>
/// Writes a caller-rule 403 as problem details that say who was refused and where; the callers the endpoint allows only
/// in the Development environment (elsewhere any identity of the trust domain could map the whole authorization graph
/// with a few requests; the Warning log has them everywhere). 401s come from <see cref="MtlsAuthenticationHandler"/>. On the
/// plain management port, where nobody authenticates, a request that is not for a management endpoint is refused by
/// <see cref="ManagementPortRefusal"/> instead of being challenged.
/// </summary>
internal sealed class MtlsAuthorizationResultHandler(IHostEnvironment environment, ManagementPortRefusal managementPort) : IAuthorizationMiddlewareResultHandler
{
    private readonly Microsoft.AspNetCore.Authorization.Policy.AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, Microsoft.AspNetCore.Authorization.Policy.PolicyAuthorizationResult authorizeResult)
    {
        if (!authorizeResult.Succeeded && context.Features.Get<ITlsHandshakeFeature>() is null)
        {
            await managementPort.RefuseAsync(context).ConfigureAwait(false);
            return;
        }

        if (authorizeResult.Forbidden && context.Items[CallerAuthorizationHandler.DenialItem] is CallerAuthorizationHandler.Denial denial)
        {
            var allowed = environment.IsDevelopment()
                ? $"; allowed callers: {denial.Allowed}."
                : ". This service's log names the callers allowed (the body does in the Development environment).";
            await Results.Problem(
                title: "Caller not allowed",
                detail: $"{denial.Caller} may not call {denial.Callee}{allowed}",
                statusCode: StatusCodes.Status403Forbidden,
                extensions: new Dictionary<string, object?> { ["caller"] = denial.Caller.ToString(), ["callee"] = denial.Callee })
                .ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        await _default.HandleAsync(next, context, policy, authorizeResult).ConfigureAwait(false);
    }
}
