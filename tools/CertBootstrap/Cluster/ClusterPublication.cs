using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Certificates;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Revocation;
using MtlsAspire.Verification.Status;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Cluster;

/// <summary>One CRL of <c>crl.pem</c>: what it says, and where it came from.</summary>
/// <param name="Crl">Issuer, number, nextUpdate and how many serials it lists.</param>
/// <param name="Source">The CA directory that signed it, or the file it was appended from.</param>
/// <param name="Appended">False when this run signed it; true when it was appended from a file.</param>
public sealed record PublishedCrl(CrlStatus Crl, string Source, bool Appended);

/// <summary>
/// What <c>publish-cluster</c> writes for the CA publisher CronJob: <c>crl.pem</c> (a CRL signed now for every cluster
/// CA, then the appended ones), the trust bundle <c>ca.crt</c> when asked for, and <c>configmaps.json</c> holding both
/// as ConfigMaps. Everything is prepared in memory from inputs that all passed their checks, so a bad input writes
/// nothing: services fail closed on a missing or stale CRL, and a partial output would cut off every peer.
/// </summary>
public sealed class ClusterPublication
{
    /// <summary>The ready-to-apply List of ConfigMaps.</summary>
    public const string ConfigMapsFileName = "configmaps.json";

    // As the PKI back-dates what it signs (PkiSettings.ClockSkewAllowance): a peer whose clock is behind still takes the CRL.
    private static readonly TimeSpan s_clockSkewAllowance = TimeSpan.FromMinutes(5);

    // An appended CRL (a root's, re-signed offline) this close to its nextUpdate is worth a warning in the job's log.
    private static readonly TimeSpan s_appendedCrlWarning = TimeSpan.FromHours(24);

    private ClusterPublication(IReadOnlyList<PublishedCrl> crls, IReadOnlyList<BundleRoot>? roots, string crlPem, string? bundlePem,
        string configMapsJson, IReadOnlyList<string> warnings)
    {
        Crls = crls;
        Roots = roots;
        CrlPem = crlPem;
        BundlePem = bundlePem;
        ConfigMapsJson = configMapsJson;
        Warnings = warnings;
    }

    /// <summary>Every CRL of <see cref="CrlPem"/>, in file order: the signed ones (in --ca order), then the appended.</summary>
    public IReadOnlyList<PublishedCrl> Crls { get; }

    /// <summary>The roots of the trust bundle in bundle order, or null when no bundle was asked for.</summary>
    public IReadOnlyList<BundleRoot>? Roots { get; }

    /// <summary>The text of <c>crl.pem</c>.</summary>
    public string CrlPem { get; }

    /// <summary>The text of <c>ca.crt</c>, or null when no bundle was asked for.</summary>
    public string? BundlePem { get; }

    /// <summary>The text of <c>configmaps.json</c>.</summary>
    public string ConfigMapsJson { get; }

    /// <summary>
    /// Problems that do not stop the publication: an appended CRL close to its nextUpdate, an extra root left out of the
    /// bundle, a serial kept although the revoked-serials file lost it.
    /// </summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>
    /// Reads and checks every input of <paramref name="request"/> and signs the CRLs at <paramref name="now"/>: CRL
    /// number the Unix time in seconds (increasing across runs that keep no state), thisUpdate 5 minutes back,
    /// nextUpdate <see cref="ClusterPublishRequest.Validity"/> ahead, every serial of the revoked file and every serial
    /// the CRLs published before listed while its certificate could be valid (<see cref="RevocationRecord"/>). Extra roots
    /// that would vouch for the trust domain are left out of the bundle (<see cref="TrustBundle.Gather"/>). Throws
    /// (<see cref="PkiException"/>, <see cref="FormatException"/>, <see cref="InvalidDataException"/>,
    /// <see cref="CryptographicException"/>) naming the file at fault.
    /// </summary>
    public static ClusterPublication Prepare(ClusterPublishRequest request, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        var listed = RevokedSerialsFile.Read(request.RevokedFile, now);
        var gathered = request.HasBundle ? TrustBundle.Gather(request.RootDirectories, request.ExtraRootsFile, request.TrustDomain, request.AllowExtraRootsForTrustDomain) : null;
        var roots = gathered?.Roots;
        var warnings = new List<string>(gathered?.LeftOut ?? []);

        var crls = new List<PublishedCrl>();
        var blocks = new List<string>();
        var issuers = new List<X509Certificate2>((roots ?? []).Select(r => r.Certificate));
        var cas = new List<MountedCa>();
        try
        {
            foreach (var directory in request.CaDirectories)
            {
                cas.Add(MountedCa.Load(directory));
            }

            var (revoked, carried) = RevocationRecord.CarryForward(listed, request.PublishedCrlFile, [.. cas.Select(c => c.Certificate)], now);
            warnings.AddRange(carried);
            foreach (var ca in cas.DistinctBy(c => c.Certificate.GetCertHashString(HashAlgorithmName.SHA256)))
            {
                var der = RevocationListSigner.Sign(ca.Certificate, now.ToUnixTimeSeconds(), revoked, now - s_clockSkewAllowance, now + request.Validity);
                crls.Add(new PublishedCrl(RevocationList.Load(der, ca.Certificate).Status(), ca.Directory, Appended: false));
                blocks.Add(PemEncoding.WriteString("X509 CRL", der));
                issuers.Add(X509CertificateLoader.LoadCertificate(ca.Certificate.RawData)); // the public part only
                issuers.AddRange(ca.Chain.Select(c => X509CertificateLoader.LoadCertificate(c.RawData)));
            }
        }
        finally
        {
            foreach (var ca in cas)
            {
                ca.Dispose(); // the keys are not needed past signing
            }
        }

        foreach (var file in request.AppendCrlFiles)
        {
            var text = ReadAppended(file);
            var loaded = RevocationSet.Load(text, issuers, file).Loaded;
            if (loaded.Count == 0)
            {
                throw new PkiException($"{file} holds no CRL: --append-crl takes a PEM file of one or more 'X509 CRL' blocks.");
            }

            foreach (var crl in loaded)
            {
                crls.Add(new PublishedCrl(crl, file, Appended: true));
                if (crl.NextUpdate is { } next && next <= now)
                {
                    warnings.Add(string.Create(CultureInfo.InvariantCulture,
                        $"{file}: the CRL #{crl.Number} of {crl.Issuer} is stale since {next.UtcDateTime:u}: every peer under that CA is refused until it is re-signed"));
                }
                else if (crl.NextUpdate is { } soon && soon - now < s_appendedCrlWarning)
                {
                    warnings.Add(string.Create(CultureInfo.InvariantCulture,
                        $"{file}: the CRL #{crl.Number} of {crl.Issuer} has its next update at {soon.UtcDateTime:u}, within 24 h: re-sign it and update the file"));
                }
            }

            blocks.Add(text);
        }

        var crlPem = Pem.Join(blocks);
        // Read back as a service reads crl.pem: every CRL parses, and each whose issuer is known here verifies.
        RevocationSet.Load(crlPem, issuers, CredentialFiles.CrlFileName);

        var bundlePem = roots is null ? null : Pem.Certificates(roots.Select(r => r.Certificate));
        var configMaps = new List<ConfigMapData> { new(request.CrlConfigMap, CredentialFiles.CrlFileName, crlPem) };
        if (bundlePem is not null)
        {
            configMaps.Add(new(request.BundleConfigMap, CredentialFiles.BundleFileName, bundlePem));
        }

        return new ClusterPublication(crls, roots, crlPem, bundlePem, ConfigMapList.Build(request.Namespace, configMaps), warnings);
    }

    /// <summary>
    /// Writes <c>crl.pem</c>, <c>ca.crt</c> (when there is a bundle) and <c>configmaps.json</c> into
    /// <paramref name="directory"/> (created if missing), mode 0644, each through a temporary file renamed over it once
    /// all are written. Returns the paths written.
    /// </summary>
    public IReadOnlyList<string> WriteTo(string directory)
    {
        Directory.CreateDirectory(directory);
        var files = new List<(string Path, string Text)> { (Path.Combine(directory, CredentialFiles.CrlFileName), CrlPem) };
        if (BundlePem is not null)
        {
            files.Add((Path.Combine(directory, CredentialFiles.BundleFileName), BundlePem));
        }

        files.Add((Path.Combine(directory, ConfigMapsFileName), ConfigMapsJson)); // last: what kubectl applies
        SecureFiles.ReplaceAllAtomically(files, SecureFiles.Public);
        return [.. files.Select(f => f.Path)];
    }

    private static string ReadAppended(string file)
    {
        if (!File.Exists(file))
        {
            throw new PkiException($"The CRL file {file} (--append-crl) does not exist.");
        }

        var text = File.ReadAllText(file);
        // Appended verbatim, so nothing but CRLs may be in it: a key pasted in would be published to every namespace reader.
        var rest = text.AsSpan();
        while (PemEncoding.TryFind(rest, out var fields))
        {
            var label = rest[fields.Label].ToString();
            if (label != "X509 CRL")
            {
                var what = label.Contains("PRIVATE KEY", StringComparison.Ordinal) ? "a private key" : $"a '{label}' block";
                throw new PkiException($"{file} holds {what}: --append-crl takes only 'X509 CRL' blocks.");
            }

            rest = rest[fields.Location.End..];
        }

        return text;
    }
}
