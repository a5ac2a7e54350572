using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.ServiceDefaults.Authorization;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.Verification.Identity;

namespace MtlsAspire.LegacyProxy;

/// <summary>
/// The X-Forwarded-Client-Cert value of each client connection (<c>By=…;Hash=…;URI=…</c>), built on the connection's first
/// proxied request and reused by every later one: a SHA-256 of the certificate and three formatted strings are per
/// connection facts, not per request work.
/// </summary>
/// <remarks>
/// The value hangs off the connection's client certificate object: Kestrel makes one per TLS connection
/// (its TLS connection feature), so an entry lives as long as the connection and goes with it. A
/// <see cref="ConditionalWeakTable{TKey,TValue}"/> is safe for the concurrent streams of one HTTP/2 connection, which
/// the connection's Items dictionary is not once requests write to it.
/// </remarks>
internal sealed class ForwardedClientCertValues(MtlsCredentialStore store)
{
    private readonly ConditionalWeakTable<X509Certificate2, Entry> _values = new();

    /// <summary>The value for the caller of <paramref name="http"/>, or null when the request has no verified caller.</summary>
    public string? ValueFor(HttpContext http)
    {
        if (http.Connection.ClientCertificate is not { } certificate)
        {
            return null;
        }

        // The proxy's own identity is read each time: credentials can change under an open connection.
        var self = store.Current.Identity;
        if (_values.TryGetValue(certificate, out var entry) && entry.Self == self)
        {
            return entry.Value;
        }

        var caller = http.User.GetSpiffeId();
        if (caller.IsEmpty)
        {
            return null;
        }

        entry = new Entry(self, $"By={self};Hash={Convert.ToHexStringLower(SHA256.HashData(certificate.RawData))};URI={caller}");
        _values.AddOrUpdate(certificate, entry);
        return entry.Value;
    }

    private sealed record Entry(SpiffeId Self, string Value);
}
