using System.Text.RegularExpressions;

namespace MtlsAspire.Verification.Identity;

/// <summary>
/// Names of services and environments: lowercase kebab-case DNS labels (as Aspire resources and Kubernetes objects),
/// so the same name works in a SPIFFE path, a directory, a DNS name and a manifest.
/// </summary>
public static partial class NameRules
{
    // \z, not $: $ also matches before a final '\n', which would let "order\n" through as a name.
    [GeneratedRegex(@"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\z", RegexOptions.CultureInvariant)]
    private static partial Regex DnsLabel();

    /// <summary>True when <paramref name="name"/> is a lowercase DNS label of at most 63 characters.</summary>
    public static bool IsValid(string? name) => name is not null && DnsLabel().IsMatch(name);

    /// <summary>Throws <see cref="ArgumentException"/> naming the value and the rule when the name is not valid.</summary>
    public static void ThrowIfInvalid(string? name, string what)
    {
        if (!IsValid(name))
        {
            throw new ArgumentException(
                $"Invalid {what} name '{name}': use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit.",
                what);
        }
    }
}
