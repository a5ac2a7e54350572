namespace MtlsAspire.CertBootstrap.Doctor;

/// <summary>Reads what a failed handshake or TLS read says: the innermost reason, e.g. "tlsv1 alert unknown ca".</summary>
internal static class TlsAlert
{
    /// <summary>The innermost exception's message, without OpenSSL's "error:…:SSL routines::" prefix.</summary>
    public static string Describe(Exception exception)
    {
        var inner = exception;
        while (inner.InnerException is not null)
        {
            inner = inner.InnerException;
        }

        var message = inner.Message.ReplaceLineEndings(" ").Trim().TrimEnd('.');
        var routines = message.LastIndexOf("::", StringComparison.Ordinal);
        return routines >= 0 ? message[(routines + 2)..] : message;
    }

    /// <summary>True when the failure says the two sides share no TLS version.</summary>
    public static bool IsProtocolVersion(Exception exception)
    {
        var text = Describe(exception);
        return text.Contains("protocol version", StringComparison.OrdinalIgnoreCase)
            || text.Contains("unsupported protocol", StringComparison.OrdinalIgnoreCase)
            || text.Contains("no protocols available", StringComparison.OrdinalIgnoreCase);
    }
}
