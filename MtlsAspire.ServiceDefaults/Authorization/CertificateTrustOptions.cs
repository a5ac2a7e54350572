using Microsoft.AspNetCore.Authentication.Certificate;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using MtlsAspire.ServiceDefaults.Mtls;

namespace MtlsAspire.ServiceDefaults.Authorization;

/// <summary>
/// Gives the certificate authentication handler the trust of the current credentials: ca.crt's roots as its custom
/// trust store, and the known intermediates (ours, and those of peer chains that validated in a handshake: a client
/// sends its intermediate in the handshake, but the handler only sees the leaf) as additional chain certificates.
/// Its change token fires when the credentials change generation or an intermediate becomes known, so the options
/// monitor rebuilds the options: the handler's trust follows rotations without a restart.
/// </summary>
internal sealed class CertificateTrustOptions : IConfigureNamedOptions<CertificateAuthenticationOptions>,
    IOptionsChangeTokenSource<CertificateAuthenticationOptions>, IDisposable
{
    private readonly MtlsCredentialStore _store;
    private CancellationTokenSource _changed = new();

    public CertificateTrustOptions(MtlsCredentialStore store)
    {
        _store = store;
        _store.Changed += OnCredentialsChanged;
        _store.IntermediateLearned += OnTrustChanged;
    }

    /// <summary>The scheme whose options this configures.</summary>
    public string Name => MtlsAuthenticationDefaults.Scheme;

    public void Configure(string? name, CertificateAuthenticationOptions options)
    {
        if (name != Name)
        {
            return;
        }

        options.CustomTrustStore = [.. _store.Current.TrustedRoots];
        options.AdditionalChainCertificates = [.. _store.KnownIntermediates];
    }

    public void Configure(CertificateAuthenticationOptions options) => Configure(Options.DefaultName, options);

    public IChangeToken GetChangeToken() => new CancellationChangeToken(Volatile.Read(ref _changed).Token);

    private void OnCredentialsChanged(MtlsCredentials credentials) => OnTrustChanged();

    // The replaced source is not disposed: the options monitor may still be registering on its (cancelled) token.
    private void OnTrustChanged() => Interlocked.Exchange(ref _changed, new CancellationTokenSource()).Cancel();

    public void Dispose()
    {
        _store.Changed -= OnCredentialsChanged;
        _store.IntermediateLearned -= OnTrustChanged;
        _changed.Dispose();
    }
}
