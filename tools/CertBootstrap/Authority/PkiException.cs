namespace MtlsAspire.CertBootstrap.Authority;

/// <summary>
/// A PKI operation refused or failed for a reason the operator can act on. The message is one line naming the
/// file or value at fault; it never contains key material.
/// </summary>
public class PkiException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PkiException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public PkiException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public PkiException()
    {
    }
}
