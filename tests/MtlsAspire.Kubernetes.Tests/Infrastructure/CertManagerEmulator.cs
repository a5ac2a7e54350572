using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;

namespace MtlsAspire.Kubernetes.Tests.Infrastructure;

/// <summary>
/// What cert-manager does with the published Issuers and Certificates, written from its documented behaviour and
/// independent of our CertBootstrap: a <c>selfSigned</c> issuer signs a Certificate with its own new key; a <c>ca</c>
/// issuer signs with the key in its Secret and writes <c>tls.crt</c> = the new certificate followed by the issuer's
/// chain without its self-signed root, <c>ca.crt</c> = that root (the issuer's <c>ca.crt</c>). Each Certificate's spec (commonName, isCA, duration,
/// privateKey algorithm/size/encoding, usages, dnsNames, uris) decides what is issued, so a wrong spec gives a
/// certificate our services refuse.
/// </summary>
public sealed class CertManagerEmulator(Manifests manifests, TimeProvider time)
{
    private readonly Dictionary<string, string> _issuedSpecs = new(StringComparer.Ordinal);
    private Manifests _manifests = manifests;

    /// <summary>Secrets by name: key → content.</summary>
    public Dictionary<string, Dictionary<string, string>> Secrets { get; } = new(StringComparer.Ordinal);

    /// <summary>Issues every Certificate of the manifests, CAs first (in dependency order, as cert-manager converges).</summary>
    public void IssueAll()
    {
        var pending = _manifests.OfKind("Certificate").ToList();
        while (pending.Count > 0)
        {
            var ready = pending.FirstOrDefault(c => CanIssue(c))
                ?? throw new InvalidOperationException($"cert-manager could never issue: {string.Join(", ", pending)} (their issuers' Secrets never exist).");
            Issue(ready);
            pending.Remove(ready);
        }
    }

    /// <summary>
    /// What <c>kubectl apply</c> of new manifests makes cert-manager do: a Certificate that is new, or whose spec changed,
    /// is issued again (in dependency order); the others are left as they are.
    /// </summary>
    public void Apply(Manifests applied)
    {
        _manifests = applied;
        var pending = applied.OfKind("Certificate")
            .Where(c => !_issuedSpecs.TryGetValue((string)c.Spec["secretName"]!, out var spec) || spec != c.Spec.ToJsonString()).ToList();
        while (pending.Count > 0)
        {
            var ready = pending.FirstOrDefault(CanIssue) ?? throw new InvalidOperationException($"cert-manager could never issue: {string.Join(", ", pending)}.");
            Issue(ready);
            pending.Remove(ready);
        }
    }

    /// <summary>
    /// Issues (or re-issues, as <c>cmctl renew</c> does) one Certificate into its Secret: a new key with
    /// <c>rotationPolicy: Always</c>, the Secret's key again with <c>Never</c>.
    /// </summary>
    public X509Certificate2 Issue(ManifestObject certificate)
    {
        var secretName = (string)certificate.Spec["secretName"]!;
        var keep = (string?)certificate.Spec["privateKey"]?["rotationPolicy"] == "Never" && Secrets.TryGetValue(secretName, out var existing) ? existing["tls.key"] : null;
        var (issued, files) = IssueFiles(certificate.Spec, keep);
        Secrets[secretName] = files;
        _issuedSpecs[secretName] = certificate.Spec.ToJsonString();
        return issued;
    }

    /// <summary>Re-issues the Certificate named <paramref name="name"/> (<c>cmctl renew</c>).</summary>
    public X509Certificate2 Renew(string name) => Issue(_manifests.Get("Certificate", name));

    /// <summary>
    /// What cert-manager's CSI driver writes into a pod's <c>csi.cert-manager.io</c> volume: a new key and a certificate
    /// from the volume's attributes, with <c>${POD_NAMESPACE}</c> and <c>${SERVICE_ACCOUNT_NAME}</c> expanded for the pod.
    /// </summary>
    public Dictionary<string, string> IssueForCsi(JsonNode attributes, string podNamespace, string serviceAccount)
    {
        string? Attribute(string key) => attributes[$"csi.cert-manager.io/{key}"] is { } value
            ? ((string)value!).Replace("${POD_NAMESPACE}", podNamespace, StringComparison.Ordinal).Replace("${SERVICE_ACCOUNT_NAME}", serviceAccount, StringComparison.Ordinal)
            : null;
        JsonArray? List(string key) => Attribute(key) is { } csv ? new JsonArray([.. csv.Split(',').Select(v => (JsonNode)JsonValue.Create(v.Trim())!)]) : null;
        var spec = new JsonObject
        {
            ["commonName"] = Attribute("common-name"),
            ["dnsNames"] = List("dns-names"),
            ["uris"] = List("uri-sans"),
            ["usages"] = List("key-usages"),
            ["duration"] = Attribute("duration"),
            ["privateKey"] = new JsonObject { ["algorithm"] = Attribute("key-algorithm"), ["size"] = Attribute("key-size"), ["encoding"] = Attribute("key-encoding") },
            ["issuerRef"] = new JsonObject { ["name"] = Attribute("issuer-name"), ["kind"] = Attribute("issuer-kind") },
        };
        return IssueFiles(spec).Files;
    }

    private (X509Certificate2 Issued, Dictionary<string, string> Files) IssueFiles(JsonNode spec, string? existingKey = null)
    {
        var issuer = _manifests.Get("Issuer", (string)spec["issuerRef"]!["name"]!);
        Assert.Equal("Issuer", (string?)spec["issuerRef"]!["kind"] ?? "Issuer");
        using var key = NewKey(spec["privateKey"]);
        if (existingKey is not null)
        {
            key.ImportFromPem(existingKey);
        }

        var now = time.GetUtcNow();
        var request = Request(spec, key);
        X509Certificate2 issued;
        string chainAfter;
        string caCertificate;
        if (issuer.Spec["selfSigned"] is not null)
        {
            issued = request.CreateSelfSigned(now, now + Duration(spec["duration"]));
            chainAfter = string.Empty;
            caCertificate = issued.ExportCertificatePem() + "\n";
        }
        else
        {
            var caSecret = Secrets[(string)issuer.Spec["ca"]!["secretName"]!];
            using var caCertificateObject = X509Certificate2.CreateFromPem(caSecret["tls.crt"]);
            using var caKey = ECDsa.Create();
            caKey.ImportFromPem(caSecret["tls.key"]);
            using var caWithKey = caCertificateObject.CopyWithPrivateKey(caKey);
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(caCertificateObject, includeKeyIdentifier: true, includeIssuerAndSerial: false));
            var notAfter = now + Duration(spec["duration"]);
            issued = request.Create(caWithKey, now, notAfter < caWithKey.NotAfter ? notAfter : caWithKey.NotAfter, RandomSerial());
            // cert-manager (v1.16) appends the issuer's chain without its self-signed root, and puts the root in ca.crt.
            var chain = new X509Certificate2Collection();
            chain.ImportFromPem(caSecret["tls.crt"]);
            chainAfter = string.Concat(chain.Where(c => !c.SubjectName.RawData.AsSpan().SequenceEqual(c.IssuerName.RawData)).Select(c => c.ExportCertificatePem() + "\n"));
            caCertificate = caSecret.TryGetValue("ca.crt", out var ca) && ca.Length > 0 ? ca : chain[^1].ExportCertificatePem() + "\n";
        }

        var encoding = (string?)spec["privateKey"]?["encoding"] ?? "PKCS1";
        return (issued, new(StringComparer.Ordinal)
        {
            ["tls.crt"] = issued.ExportCertificatePem() + "\n" + chainAfter,
            ["tls.key"] = encoding == "PKCS8" ? key.ExportPkcs8PrivateKeyPem() + "\n" : key.ExportECPrivateKeyPem() + "\n",
            ["ca.crt"] = caCertificate,
        });
    }

    private bool CanIssue(ManifestObject certificate)
    {
        var issuer = _manifests.Get("Issuer", (string)certificate.Spec["issuerRef"]!["name"]!);
        return issuer.Spec["selfSigned"] is not null || Secrets.ContainsKey((string)issuer.Spec["ca"]!["secretName"]!);
    }

    private static ECDsa NewKey(JsonNode? privateKey)
    {
        var algorithm = (string?)privateKey?["algorithm"] ?? "RSA";
        var size = (string?)privateKey?["size"] ?? "256";
        Assert.True(algorithm == "ECDSA" && size == "256", $"the emulator (and our services' default) issues ECDSA P-256; the spec asks for {algorithm} {size}");
        return ECDsa.Create(ECCurve.NamedCurves.nistP256);
    }

    private static CertificateRequest Request(JsonNode spec, ECDsa key)
    {
        var subject = spec["commonName"] is { } cn ? new X500DistinguishedName($"CN={(string)cn!}") : new X500DistinguishedName(string.Empty);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        var isCa = (string?)spec["isCA"] == "true";
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(isCa, false, 0, critical: true));
        var usages = spec["usages"]?.AsArray().Select(u => (string)u!).ToList() ?? ["digital signature", "key encipherment"];
        var keyUsage = usages.Aggregate(X509KeyUsageFlags.None, (flags, usage) => flags | usage switch
        {
            "digital signature" => X509KeyUsageFlags.DigitalSignature,
            "key encipherment" => X509KeyUsageFlags.KeyEncipherment,
            "cert sign" => X509KeyUsageFlags.KeyCertSign,
            "crl sign" => X509KeyUsageFlags.CrlSign,
            _ => X509KeyUsageFlags.None,
        });
        if (isCa)
        {
            keyUsage |= X509KeyUsageFlags.KeyCertSign; // cert-manager adds it for a CA
        }

        request.CertificateExtensions.Add(new X509KeyUsageExtension(keyUsage, critical: true));
        var extended = new OidCollection();
        foreach (var usage in usages)
        {
            if (usage switch { "server auth" => "1.3.6.1.5.5.7.3.1", "client auth" => "1.3.6.1.5.5.7.3.2", _ => null } is { } oid)
            {
                extended.Add(new Oid(oid));
            }
        }

        if (extended.Count > 0)
        {
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(extended, critical: false));
        }

        var names = new SubjectAlternativeNameBuilder();
        var any = false;
        foreach (var dns in spec["dnsNames"]?.AsArray() ?? [])
        {
            names.AddDnsName((string)dns!);
            any = true;
        }

        foreach (var uri in spec["uris"]?.AsArray() ?? [])
        {
            names.AddUri(new Uri((string)uri!));
            any = true;
        }

        if (any)
        {
            request.CertificateExtensions.Add(names.Build(critical: subject.RawData.Length <= 2));
        }

        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        return request;
    }

    /// <summary>A Go duration as cert-manager reads it (<c>24h</c>, <c>90m</c>, <c>2160h</c>; default 90 days).</summary>
    public static TimeSpan Duration(JsonNode? value)
    {
        if (value is null)
        {
            return TimeSpan.FromDays(90);
        }

        var text = (string)value!;
        var total = TimeSpan.Zero;
        foreach (System.Text.RegularExpressions.Match part in System.Text.RegularExpressions.Regex.Matches(text, "([0-9]+)(h|m|s)"))
        {
            var amount = int.Parse(part.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            total += part.Groups[2].Value switch { "h" => TimeSpan.FromHours(amount), "m" => TimeSpan.FromMinutes(amount), _ => TimeSpan.FromSeconds(amount) };
        }

        Assert.True(total > TimeSpan.Zero, $"'{text}' is not a Go duration cert-manager reads");
        return total;
    }

    private static byte[] RandomSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        serial[0] |= 0x01;
        return serial;
    }
}
