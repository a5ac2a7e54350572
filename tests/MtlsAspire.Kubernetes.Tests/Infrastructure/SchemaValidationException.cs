namespace MtlsAspire.Kubernetes.Tests.Infrastructure;

/// <summary>
/// validate.mjs ran and found problems: the message is its whole report, one line per object that passed and one per
/// problem (file:line, document index, kind, namespace/name, JSON pointer and what is wrong).
/// </summary>
public sealed class SchemaValidationException : Exception
{
    /// <summary>Creates the exception from validate.mjs's report.</summary>
    public SchemaValidationException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SchemaValidationException() : this("The Kubernetes manifests do not match their schemas.")
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public SchemaValidationException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
