namespace MtlsAspire.CertBootstrap.Authority;

/// <summary>
/// Where everything lives in a PKI directory:
/// <code>
/// pki.json                     settings (trust domain, environment, key type)
/// ledger.db                    the SQLite ledger of everything issued and revoked
/// ca.crt                       the trust bundle: every trusted root
/// roots/{serial}/              ca.crt, ca.key (encrypted PKCS#8), passphrase (only when generated locally)
/// intermediates/{serial}/      ca.crt, ca.key (PKCS#8, 0600)
/// crl/{serial}.pem             the current CRL of each CA
/// services/{name}/             tls.crt tls.key ca.crt crl.pem (cert-manager Secret names, atomic generations)
/// content/sha256-{hash}        the ca.crt and crl.pem texts now published, hard-linked into each new generation
/// </code>
/// </summary>
/// <param name="Root">The PKI directory.</param>
public sealed record PkiLayout(string Root)
{
    /// <summary>The settings file.</summary>
    public string SettingsFile => Path.Combine(Root, "pki.json");

    /// <summary>The ledger database.</summary>
    public string LedgerFile => Path.Combine(Root, "ledger.db");

    /// <summary>The trust bundle (every trusted root).</summary>
    public string BundleFile => Path.Combine(Root, "ca.crt");

    /// <summary>The directory of a root CA.</summary>
    public string RootDirectory(string serial) => Path.Combine(Root, "roots", serial);

    /// <summary>The directory of an intermediate CA.</summary>
    public string IntermediateDirectory(string serial) => Path.Combine(Root, "intermediates", serial);

    /// <summary>The current CRL of a CA.</summary>
    public string CrlFile(string issuerSerial) => Path.Combine(Root, "crl", issuerSerial + ".pem");

    /// <summary>The default credential directory of a service.</summary>
    public string ServiceDirectory(string service) => Path.Combine(Root, "services", service);

    /// <summary>The content-addressed copies of the published ca.crt and crl.pem texts.</summary>
    public string ContentDirectory => Path.Combine(Root, "content");

    /// <summary>The certificate file of a CA directory.</summary>
    public static string CertificateIn(string caDirectory) => Path.Combine(caDirectory, "ca.crt");

    /// <summary>The key file of a CA directory.</summary>
    public static string KeyIn(string caDirectory) => Path.Combine(caDirectory, "ca.key");

    /// <summary>The locally generated passphrase file of a root directory.</summary>
    public static string PassphraseIn(string rootDirectory) => Path.Combine(rootDirectory, "passphrase");
}
