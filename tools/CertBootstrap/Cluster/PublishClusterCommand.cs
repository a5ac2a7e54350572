using System.CommandLine;
using System.Globalization;
using MtlsAspire.CertBootstrap.Cli;
using MtlsAspire.Verification;

namespace MtlsAspire.CertBootstrap.Cluster;

/// <summary>
/// The <c>publish-cluster --ca DIR [--ca DIR ...] --revoked FILE [--append-crl FILE ...] [--root DIR ...] [--extra-roots FILE]
/// --namespace NS [--crl-configmap NAME] [--bundle-configmap NAME] --out DIR [--validity 1h]</c> command, run in the
/// cluster by the <c>mtls-ca-publisher</c> CronJob: cert-manager issues certificates but publishes no CRLs.
/// </summary>
public static class PublishClusterCommand
{
    /// <summary>Creates the command; the CRLs' times and numbers come from <paramref name="time"/>.</summary>
    public static Command Create(TimeProvider time)
    {
        var ca = new Option<string[]>("--ca") { HelpName = "DIR", Description = "A mounted cert-manager CA Secret (tls.crt: the CA first, then its chain; tls.key); its key signs one CRL (repeatable)", Required = true };
        var revoked = new Option<string>("--revoked")
        {
            HelpName = "FILE",
            Description = "The revoked serials, one a line: SERIALHEX [REASON] [REVOKED-AT] ('#' comments); the file must exist, empty means none revoked",
            Required = true,
        };
        var appendCrl = new Option<string[]>("--append-crl") { HelpName = "FILE", Description = "A CRL PEM file (e.g. a root's, signed offline) appended verbatim after the signed CRLs (repeatable)" };
        var root = new Option<string[]>("--root") { HelpName = "DIR", Description = "A mounted CA Secret whose root goes into the trust bundle: its ca.crt, else the first certificate of tls.crt (repeatable)" };
        var extraRoots = new Option<string?>("--extra-roots") { HelpName = "FILE", Description = "A PEM file of further roots for the trust bundle (a missing file means none)" };
        var trustDomain = new Option<string?>("--trust-domain")
        {
            HelpName = "TD",
            Description = "The trust domain of the bundle (needed with --extra-roots): an extra root that would vouch for it (unmarked, or with the URI SAN spiffe://TD) " +
                "is left out unless two or more --root are given (a root rotation) or --allow-extra-roots-for-trust-domain",
        };
        var allowExtra = new Option<bool>("--allow-extra-roots-for-trust-domain") { Description = "Admit extra roots that vouch for the trust domain outside a root rotation" };
        var publishedCrl = new Option<string?>("--published-crl")
        {
            HelpName = "FILE",
            Description = "The crl.pem published before (a missing file means none): each serial its CRLs list stays revoked while the --ca certificates are valid, even when --revoked lost it",
        };
        var ns = new Option<string>("--namespace") { HelpName = "NS", Description = "The namespace of the ConfigMaps", Required = true };
        var crlConfigMap = new Option<string>("--crl-configmap") { HelpName = "NAME", Description = "The ConfigMap holding crl.pem", DefaultValueFactory = _ => "mtls-crl" };
        var bundleConfigMap = new Option<string>("--bundle-configmap") { HelpName = "NAME", Description = "The ConfigMap holding ca.crt (written with --root or --extra-roots)", DefaultValueFactory = _ => "mtls-trust-bundle" };
        var output = new Option<string>("--out") { HelpName = "DIR", Description = "Where crl.pem, ca.crt and configmaps.json go (created if missing); nothing is written if any input fails", Required = true };
        var validity = new Option<string>("--validity") { HelpName = "DURATION", Description = "How long the signed CRLs are valid, e.g. 1h, 90m", DefaultValueFactory = _ => "1h" };
        var command = new Command("publish-cluster",
            "Sign a CRL with each cert-manager CA key, gather the trust bundle, and write crl.pem, ca.crt and configmaps.json (a List of ConfigMaps for kubectl apply -f)")
        {
            ca, revoked, appendCrl, root, extraRoots, trustDomain, allowExtra, publishedCrl, ns, crlConfigMap, bundleConfigMap, output, validity,
        };
        command.SetAction(parse =>
        {
            var request = new ClusterPublishRequest
            {
                CaDirectories = parse.GetValue(ca) ?? [],
                RevokedFile = parse.GetValue(revoked)!,
                AppendCrlFiles = parse.GetValue(appendCrl) ?? [],
                RootDirectories = parse.GetValue(root) ?? [],
                ExtraRootsFile = parse.GetValue(extraRoots),
                TrustDomain = parse.GetValue(trustDomain),
                AllowExtraRootsForTrustDomain = parse.GetValue(allowExtra),
                PublishedCrlFile = parse.GetValue(publishedCrl),
                Namespace = parse.GetValue(ns)!,
                CrlConfigMap = parse.GetValue(crlConfigMap)!,
                BundleConfigMap = parse.GetValue(bundleConfigMap)!,
                Validity = Durations.Parse(parse.GetValue(validity)!),
            };
            var publication = ClusterPublication.Prepare(request, time.GetUtcNow());
            var written = publication.WriteTo(parse.GetValue(output)!);

            var writer = parse.InvocationConfiguration.Output;
            foreach (var crl in publication.Crls)
            {
                writer.WriteLine($"{CertBootstrapCli.DescribeCrl(crl.Crl)} ({(crl.Appended ? "appended from" : "signed with the key in")} {crl.Source})");
            }

            foreach (var bundleRoot in publication.Roots ?? [])
            {
                writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"Bundle root {bundleRoot.Certificate.Subject}, valid until {bundleRoot.Certificate.NotAfter.ToUniversalTime():u}, SHA-256 {bundleRoot.Thumbprint} (from {bundleRoot.Source})"));
            }

            var maps = publication.BundlePem is null ? $"{request.CrlConfigMap} (crl.pem)" : $"{request.CrlConfigMap} (crl.pem) and {request.BundleConfigMap} (ca.crt)";
            writer.WriteLine($"Wrote {string.Join(", ", written)}: ConfigMaps {maps} in namespace {request.Namespace}.");
            foreach (var warning in publication.Warnings)
            {
                parse.InvocationConfiguration.Error.WriteLine($"warning: {warning}");
            }

            return CertBootstrapCli.Ok;
        });
        return command;
    }
}
