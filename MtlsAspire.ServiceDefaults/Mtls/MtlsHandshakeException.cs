namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// A call failed because one side refused the other's certificate. Deliberately not an
/// <see cref="HttpRequestException"/>: resilience pipelines do not retry it, since a refused certificate stays refused.
/// The message names the side that refused, the certificate and the reason.
/// </summary>
public sealed class MtlsHandshakeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MtlsHandshakeException(RejectionReason reason, string message, Exception? innerException = null)
        : base(message, innerException) => Reason = reason;

    /// <summary>Creates the exception.</summary>
    public MtlsHandshakeException() : this(RejectionReason.Invalid, "The mTLS handshake failed.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public MtlsHandshakeException(string message) : this(RejectionReason.Invalid, message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public MtlsHandshakeException(string message, Exception innerException) : this(RejectionReason.Invalid, message, innerException)
    {
    }

    /// <summary>Why the certificate was refused.</summary>
    public RejectionReason Reason { get; }
}
