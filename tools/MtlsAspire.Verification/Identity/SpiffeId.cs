using System.Diagnostics.CodeAnalysis;

namespace MtlsAspire.Verification.Identity;

/// <summary>
/// A SPIFFE ID (<c>spiffe://trust-domain/path</c>), parsed and validated once per the SPIFFE ID specification.
/// Compare identities as values of this type, never as raw strings.
/// </summary>
public readonly struct SpiffeId : IEquatable<SpiffeId>, IParsable<SpiffeId>
{
    private const string Scheme = "spiffe://";
    private const int MaxUriLength = 2048;
    private const int MaxTrustDomainLength = 255;

    private readonly string? _value;

    private SpiffeId(string trustDomain, string path)
    {
        TrustDomain = trustDomain;
        Path = path;
        _value = Scheme + trustDomain + path;
    }

    /// <summary>The trust domain, e.g. <c>mtls-aspire.local</c>.</summary>
    public string TrustDomain { get; }

    /// <summary>The path, empty or starting with '/', e.g. <c>/ns/development/sa/order</c>.</summary>
    public string Path { get; }

    /// <summary>True for <c>default(SpiffeId)</c>, which identifies nothing.</summary>
    public bool IsEmpty => _value is null;

    /// <summary>
    /// The identity of a workload in this project's convention: <c>spiffe://{trustDomain}/ns/{environment}/sa/{service}</c>.
    /// </summary>
    public static SpiffeId ForWorkload(string trustDomain, string environment, string service)
    {
        NameRules.ThrowIfInvalid(environment, "environment");
        NameRules.ThrowIfInvalid(service, "service");
        return Parse($"{Scheme}{trustDomain}/ns/{environment}/sa/{service}");
    }

    /// <summary>Parses a SPIFFE ID, throwing <see cref="FormatException"/> with the reason when it is not one.</summary>
    public static SpiffeId Parse(string s, IFormatProvider? provider = null) =>
        TryParse(s, out var id, out var reason) ? id : throw new FormatException($"'{s}' is not a valid SPIFFE ID: {reason}.");

    /// <inheritdoc />
    public static bool TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out SpiffeId result) =>
        TryParse(s, out result, out _);

    /// <summary>Parses a SPIFFE ID; when it is not one, <paramref name="reason"/> says why.</summary>
    public static bool TryParse([NotNullWhen(true)] string? s, out SpiffeId result, [NotNullWhen(false)] out string? reason)
    {
        result = default;
        reason = Validate(s);
        if (reason is not null)
        {
            return false;
        }

        var rest = s!.AsSpan(Scheme.Length);
        var slash = rest.IndexOf('/');
        var trustDomain = slash < 0 ? rest.ToString() : rest[..slash].ToString();
        var path = slash < 0 ? string.Empty : rest[slash..].ToString();
        result = new SpiffeId(trustDomain, path);
        return true;
    }

    private static string? Validate(string? s)
    {
        if (string.IsNullOrEmpty(s))
        {
            return "it is empty";
        }

        if (s.Length > MaxUriLength)
        {
            return $"it is longer than {MaxUriLength} characters";
        }

        if (!s.StartsWith(Scheme, StringComparison.Ordinal))
        {
            return "the scheme must be 'spiffe://' (lowercase)";
        }

        var rest = s.AsSpan(Scheme.Length);
        var slash = rest.IndexOf('/');
        var trustDomain = slash < 0 ? rest : rest[..slash];
        var path = slash < 0 ? [] : rest[slash..];

        if (trustDomain.IsEmpty)
        {
            return "the trust domain is missing";
        }

        if (trustDomain.Length > MaxTrustDomainLength)
        {
            return $"the trust domain is longer than {MaxTrustDomainLength} characters";
        }

        foreach (var c in trustDomain)
        {
            switch (c)
            {
                case ':':
                    return "a port is not allowed in the trust domain";
                case '@':
                    return "user info is not allowed in the trust domain";
                case '?':
                    return "a query is not allowed";
                case '#':
                    return "a fragment is not allowed";
            }

            if (!IsTrustDomainChar(c))
            {
                return $"the trust domain may hold only lowercase letters, digits, '.', '-' and '_' (found '{c}')";
            }
        }

        return ValidatePath(path);
    }

    private static string? ValidatePath(ReadOnlySpan<char> path)
    {
        if (path.IsEmpty)
        {
            return null;
        }

        if (path.IndexOf('?') >= 0)
        {
            return "a query is not allowed";
        }

        if (path.IndexOf('#') >= 0)
        {
            return "a fragment is not allowed";
        }

        if (path[^1] == '/')
        {
            return "the path must not end with '/'";
        }

        foreach (var range in path[1..].Split('/'))
        {
            var segment = path[1..][range];
            if (segment.IsEmpty)
            {
                return "the path must not contain empty segments ('//')";
            }

            if (segment is "." or "..")
            {
                return "the path must not contain '.' or '..' segments";
            }

            foreach (var c in segment)
            {
                if (!IsPathChar(c))
                {
                    return $"path segments may hold only letters, digits, '.', '-' and '_' (found '{c}')";
                }
            }
        }

        return null;
    }

    private static bool IsTrustDomainChar(char c) => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-' or '_';

    private static bool IsPathChar(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '-' or '_';

    /// <summary>True when this ID belongs to <paramref name="trustDomain"/>.</summary>
    public bool IsMemberOf(string trustDomain) => string.Equals(TrustDomain, trustDomain, StringComparison.Ordinal);

    /// <summary>
    /// The service name when the path follows this project's convention (<c>/ns/{environment}/sa/{service}</c>); otherwise null.
    /// </summary>
    public string? ServiceName
    {
        get
        {
            var segments = (Path ?? string.Empty).Split('/');
            return segments is ["", "ns", _, "sa", var service] ? service : null;
        }
    }

    /// <summary>The ID as a URI string.</summary>
    public override string ToString() => _value ?? string.Empty;

    /// <summary>The ID as a <see cref="Uri"/>, for a subject alternative name.</summary>
    public Uri ToUri() => new(ToString(), UriKind.Absolute);

    /// <inheritdoc />
    public bool Equals(SpiffeId other) => string.Equals(_value, other._value, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is SpiffeId other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => _value is null ? 0 : StringComparer.Ordinal.GetHashCode(_value);

    /// <summary>Value equality.</summary>
    public static bool operator ==(SpiffeId left, SpiffeId right) => left.Equals(right);

    /// <summary>Value inequality.</summary>
    public static bool operator !=(SpiffeId left, SpiffeId right) => !left.Equals(right);
}
