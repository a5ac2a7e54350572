namespace MtlsAspire.Hosting;

/// <summary>
/// Variables of the AppHost's own environment that a service would read as keys of its <c>Mtls</c> configuration
/// section. Every process DCP starts inherits the AppHost's environment, and .NET configuration merges what it finds
/// there with what the app model sets: a stray <c>Mtls__Authorization__ReferencedBy__7</c> would become one more allowed
/// caller of every service, beside the rules that come from <c>WithReference</c>. So they are removed before any resource
/// starts; a service's <c>Mtls</c> settings come only from the model (and from <c>WithEnvironment</c> on its resource).
/// </summary>
internal static class InheritedMtlsSettings
{
    private const string Section = "Mtls";

    // The prefixes under which WebApplication and Host builders read environment variables as configuration.
    private static readonly string[] s_prefixes = ["", "DOTNET_", "ASPNETCORE_"];

    /// <summary>
    /// True when a .NET service's environment configuration (unprefixed, <c>DOTNET_</c> or <c>ASPNETCORE_</c>) would read
    /// <paramref name="name"/> as the <c>Mtls</c> section or a key in it. As .NET does, <c>__</c> is a colon and the
    /// comparison ignores case: <c>MTLS__X</c>, <c>mtls:x</c> and <c>ASPNETCORE_Mtls__X</c> all count;
    /// <c>MtlsAspire__X</c> (the AppHost's own section) does not.
    /// </summary>
    public static bool IsMtlsSetting(string name)
    {
        var key = name.Replace("__", ":", StringComparison.Ordinal);
        foreach (var prefix in s_prefixes)
        {
            if (key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                var rest = key.AsSpan(prefix.Length);
                if (rest.Equals(Section, StringComparison.OrdinalIgnoreCase)
                    || (rest.StartsWith(Section, StringComparison.OrdinalIgnoreCase) && rest.Length > Section.Length && rest[Section.Length] == ':'))
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>Removes every such variable from this process's environment (so from every child's); returns their names, never their values.</summary>
    public static IReadOnlyList<string> RemoveFromEnvironment()
    {
        var names = Environment.GetEnvironmentVariables().Keys.Cast<object>().Select(k => (string)k).Where(IsMtlsSetting).Order(StringComparer.Ordinal).ToList();
        foreach (var name in names)
        {
            Environment.SetEnvironmentVariable(name, null);
        }

        return names;
    }
}
