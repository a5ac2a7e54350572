namespace MtlsAspire.ServiceDefaults.Telemetry;

/// <summary>
/// The kinds of refused request whose Warning logs <see cref="RefusalLogLimiter"/> holds back under a flood, each with its
/// own window (a flood of one kind does not hide the first of another).
/// </summary>
internal enum RequestRefusalKind
{
    /// <summary>403: the caller's identity is valid, the endpoint's rule does not name it.</summary>
    CallerNotAllowed,

    /// <summary>Would have been a 403, let through because <c>Mtls:Authorization:Mode</c> is Audit.</summary>
    AuditDenied,

    /// <summary>401: no valid SPIFFE ID of our trust domain.</summary>
    Unauthenticated,

    /// <summary>404 on the plain management port: not one of its endpoints.</summary>
    ManagementNotFound,

    /// <summary>405 on the plain management port: a management endpoint asked with a method other than GET or HEAD.</summary>
    ManagementMethodNotAllowed,
}

/// <summary>What the summary of a <see cref="RequestRefusalKind"/> says.</summary>
internal static class RequestRefusalKindText
{
    /// <summary>What the service did with the requests, as the summary says it ("requests it …").</summary>
    public static string Outcome(this RequestRefusalKind kind) => kind switch
    {
        RequestRefusalKind.CallerNotAllowed => "answered 403 (caller-not-allowed)",
        RequestRefusalKind.AuditDenied => "let through in AUDIT mode although their callers are not allowed",
        RequestRefusalKind.Unauthenticated => "answered 401 (no valid client identity)",
        RequestRefusalKind.ManagementNotFound => "answered 404 on the plain management port",
        RequestRefusalKind.ManagementMethodNotAllowed => "answered 405 on the plain management port",
        _ => kind.ToString(),
    };

    /// <summary>The counter that counts every one of them.</summary>
    public static string Counter(this RequestRefusalKind kind) => kind switch
    {
        RequestRefusalKind.ManagementNotFound or RequestRefusalKind.ManagementMethodNotAllowed => MtlsTelemetry.ManagementRefusalsName,
        _ => MtlsTelemetry.AuthorizationDecisionsName,
    };
}
