using System.Globalization;
using MtlsAspire.Verification.Identity;
using static MtlsAspire.Hosting.Kubernetes.Yaml;

namespace MtlsAspire.Hosting.Kubernetes;

/// <summary>One file of the published manifests.</summary>
/// <param name="Name">The file name in the output directory.</param>
/// <param name="Text">Its content.</param>
/// <param name="InKustomization">Whether <c>kustomization.yaml</c> lists it (a file applied once with <c>kubectl create</c> is not).</param>
public sealed record ManifestFile(string Name, string Text, bool InKustomization = true);

/// <summary>What the external-CA mode needs from our CertBootstrap PKI: public data and file paths only.</summary>
/// <param name="TrustDomain">The PKI's trust domain.</param>
/// <param name="Bundle">The trust bundle (every trusted root, PEM).</param>
/// <param name="IntermediateCertificate">Path of the active intermediate's certificate (relative to the repository when it is inside it).</param>
/// <param name="IntermediateKey">Path of its key, for the printed <c>kubectl create secret</c> command only.</param>
/// <param name="RootCrl">Path of the root's CRL, signed offline, for the printed <c>kubectl create configmap</c> command.</param>
public sealed record ExternalCa(string TrustDomain, string Bundle, string IntermediateCertificate, string IntermediateKey, string RootCrl);

/// <summary>
/// The Kubernetes manifests of the app model: namespace, cert-manager issuers, a Certificate per identity, the CA
/// publisher (CRLs and trust bundle as ConfigMaps, since cert-manager has no CRLs), a Deployment, Service and
/// NetworkPolicy per pod, and the optional Aspire dashboard. Deterministic: the same model gives the same bytes.
/// </summary>
internal sealed class KubernetesManifests(AppGraph graph, KubernetesOptions options, string trustDomain, TimeSpan leafLifetime, string stateDirectory, ExternalCa? external)
{
    public const string CredentialsPath = "/var/run/mtls";
    public const string TrustPath = "/var/run/mtls-trust";
    public const string CrlPath = "/var/run/mtls-crl";
    public const string TrustBundleConfigMap = "mtls-trust-bundle";
    public const string CrlConfigMap = "mtls-crl";
    public const string RevocationsConfigMap = "mtls-revocations";
    public const string ExtraRootsConfigMap = "mtls-trust-extra";
    public const string RootCrlConfigMap = "mtls-root-crl";
    public const string IssuerName = "mtls-ca";
    public const string IntermediateSecret = "mtls-intermediate-ca";
    public const string RootSecret = "mtls-root-ca";
    public const string Publisher = "mtls-ca-publisher";
    public const string TrustAdmin = "mtls-trust-admin";
    public const string Dashboard = "aspire-dashboard";
    public const string NameLabel = "app.kubernetes.io/name";
    public const string PartOfLabel = "app.kubernetes.io/part-of";
    public const string PartOf = "mtls-aspire";
    private const int DashboardOtlpPort = 18889;
    private const string PublishedCrlPath = "/etc/mtls-crl-published";

    // 0440 (octal): the files are readable by the user and the pod's fsGroup only.
    private const int ReadOnlyForGroup = 0b100_100_000;
    private const int DashboardUiPort = 18888;

    private string Ns => options.Namespace;

    public static string SecretOf(string service) => $"{service}-tls";

    /// <summary>Root generation 1 is <c>mtls-root-ca</c>, generation N <c>mtls-root-ca-N</c> (its Certificate, Secret and Issuer).</summary>
    public static string RootName(int generation) => generation == 1 ? RootSecret : $"{RootSecret}-{generation.ToString(CultureInfo.InvariantCulture)}";

    // Where the CA publisher mounts a root's Secret, and that volume's name.
    private static string RootMount(int generation) => generation == 1 ? "/var/run/mtls-ca/root" : $"/var/run/mtls-ca/root-{generation.ToString(CultureInfo.InvariantCulture)}";

    private static string RootVolume(int generation) => generation == 1 ? "root-ca" : $"root-ca-{generation.ToString(CultureInfo.InvariantCulture)}";

    public SpiffeId IdentityOf(string service) => SpiffeId.ForWorkload(trustDomain, Ns, service);

    public IReadOnlyList<ManifestFile> Build()
    {
        var files = new List<ManifestFile>
        {
            File("namespace.yaml", "The namespace; it is also the environment of every SPIFFE ID (spiffe://{td}/ns/{namespace}/sa/{service}).", [Namespace()]),
            File("issuers.yaml", external is null
                ? "cert-manager issuer chain for a demo cluster: self-signed root -> intermediate CA -> the CA Issuer 'mtls-ca' that signs every service."
                : "The CA Issuer 'mtls-ca' signs every service with our CertBootstrap intermediate. Its Secret is created by the command in README.md, never here.",
                Issuers()),
            File("ca-publisher.yaml", "cert-manager has no CRLs: this CronJob signs them with the CA keys and publishes the ConfigMaps every service mounts " +
                $"({CrlConfigMap}{(external is null ? $", {TrustBundleConfigMap}" : string.Empty)}).", CaPublisher()),
            File("network-policies.yaml", "Default deny: each pod below admits only its callers from the app model on the mTLS port, and probes on the health port.",
                [DefaultDeny()]),
        };
        if (options.Credentials == KubernetesCredentials.Secret)
        {
            files.Insert(2, File("certificates.yaml", "One Certificate per identity: SPIFFE ID as the only URI SAN, renewed (new key) at 2/3 of its lifetime.",
                [.. graph.Pods.Select(p => Certificate(p.Main))]));
        }

        if (external is not null)
        {
            files.Add(File("trust-bundle.yaml", "Every root our CertBootstrap PKI trusts (public certificates only).", [TrustBundle(external.Bundle)]));
        }

        foreach (var pod in graph.Pods)
        {
            var values = new ClusterValues(stateDirectory, options);
            List<Node> objects = [ServiceAccount(pod.Main.Name), Deployment(pod, values)];
            if (pod.Main.HasHttps)
            {
                objects.Add(Service(pod.Main.Name));
            }

            objects.Add(NetworkPolicy(pod));
            files.Add(File($"{pod.Main.Name}.yaml", pod.Sidecars.Count == 0
                ? $"{pod.Main.Name}: its identity {IdentityOf(pod.Main.Name)}."
                : $"{pod.Main.Name} with {string.Join(", ", pod.Sidecars.Select(s => s.Name))} in the same pod (plain HTTP over a Unix socket in an emptyDir, never on the network).",
                objects));
        }

        if (options.Dashboard)
        {
            files.Add(File("dashboard.yaml", "Optional: the Aspire dashboard as the in-cluster OTLP collector. Open it with " +
                $"'kubectl -n {Ns} port-forward svc/{Dashboard} {DashboardUiPort}' (its login token is in its log).", DashboardObjects()));
        }

        files.Add(File("revocations.yaml", $"Apply ONCE with 'kubectl create -f revocations.yaml' (create never overwrites: a later apply must not un-revoke anything).\n" +
            "Then revoke by adding lines 'SERIALHEX [reason]' with 'kubectl edit configmap mtls-revocations'; see docs/kubernetes.md.",
            [Revocations()], inKustomization: false));
        files.Insert(0, Kustomization(files));
        files.Add(new ManifestFile("README.md", Readme(), InKustomization: false));
        return files;
    }

    private static ManifestFile File(string name, string header, IEnumerable<Node> objects, bool inKustomization = true) =>
        new(name, Documents(objects, $"Generated by the MtlsAspire AppHost (--operation publish --step kubernetes). Do not edit: change the app model.\n{header}"), inKustomization);

    private static ManifestFile Kustomization(IEnumerable<ManifestFile> files) => new("kustomization.yaml", Documents([Map(
        ("apiVersion", "kustomize.config.k8s.io/v1beta1"),
        ("kind", "Kustomization"),
        ("resources", files.Where(f => f.InKustomization).Select(f => (object)f.Name).ToList()))],
        "Generated by the MtlsAspire AppHost. kubectl apply -k . (after 'kubectl create -f revocations.yaml' once)."));

    private Node Metadata(string name, string? component = null) => Map(
        ("name", name),
        ("namespace", Ns),
        ("labels", Labels(component ?? name)));

    private static Node Labels(string name) => Map((NameLabel, name), (PartOfLabel, PartOf));

    private Node Namespace() => Map(
        ("apiVersion", "v1"),
        ("kind", "Namespace"),
        ("metadata", Map(("name", Ns), ("labels", Map((PartOfLabel, PartOf))))));

    private IEnumerable<Node> Issuers()
    {
        if (external is null)
        {
            yield return Issuer("mtls-selfsigned", Map(("selfSigned", Map())));
            foreach (var generation in options.Roots)
            {
                var suffix = generation == 1 ? string.Empty : $" {generation.ToString(CultureInfo.InvariantCulture)}";
                yield return CaCertificate(RootName(generation), $"MtlsAspire Root CA{suffix} ({trustDomain})", "mtls-selfsigned", TimeSpan.FromDays(3650), TimeSpan.FromDays(365),
                    trustDomainUri: $"spiffe://{trustDomain}");
                yield return Issuer(RootName(generation), Map(("ca", Map(("secretName", RootName(generation))))));
            }

            yield return CaCertificate(IntermediateSecret, $"MtlsAspire Intermediate CA ({trustDomain})", RootName(options.SigningRoot), TimeSpan.FromDays(90), TimeSpan.FromDays(30));
        }

        yield return Issuer(IssuerName, Map(("ca", Map(("secretName", IntermediateSecret)))));
    }

    private Node Issuer(string name, Node spec) => Map(
        ("apiVersion", "cert-manager.io/v1"),
        ("kind", "Issuer"),
        ("metadata", Metadata(name)),
        ("spec", spec));

    // A CA keeps its key when cert-manager renews it (rotationPolicy Never): certificates and CRLs it signed keep
    // verifying, and the CA publisher's next CRL is signed by the same key. Replacing a CA key is a rotation (docs/kubernetes.md).
    // A root carries its trust domain as a URI SAN (spiffe://{td}, TrustDomainBinding), as CertBootstrap's roots do: a
    // bundle that also holds another trust domain's root cannot vouch for our IDs through it.
    private Node CaCertificate(string name, string commonName, string issuer, TimeSpan duration, TimeSpan renewBefore, string? trustDomainUri = null) => Map(
        ("apiVersion", "cert-manager.io/v1"),
        ("kind", "Certificate"),
        ("metadata", Metadata(name)),
        ("spec", Map([
            ("isCA", true),
            ("commonName", commonName),
            .. trustDomainUri is null ? (IEnumerable<(string, object?)>)[] : [("uris", List(trustDomainUri))],
            ("secretName", name),
            ("duration", GoDuration(duration)),
            ("renewBefore", GoDuration(renewBefore)),
            ("privateKey", Map(("algorithm", "ECDSA"), ("size", 256), ("encoding", "PKCS8"), ("rotationPolicy", "Never"))),
            ("usages", List("cert sign", "crl sign", "digital signature")),
            ("issuerRef", IssuerRef(issuer))])));

    private static Node IssuerRef(string name) => Map(("name", name), ("kind", "Issuer"), ("group", "cert-manager.io"));

    private Node Certificate(AppContainer service) => Map(
        ("apiVersion", "cert-manager.io/v1"),
        ("kind", "Certificate"),
        ("metadata", Metadata(service.Name)),
        ("spec", Map(
            ("secretName", SecretOf(service.Name)),
            ("commonName", service.Name), // a label only: identity is the URI SAN
            ("duration", GoDuration(leafLifetime)),
            ("renewBefore", GoDuration(leafLifetime / 3)),
            ("privateKey", Map(("algorithm", "ECDSA"), ("size", 256), ("encoding", "PKCS8"), ("rotationPolicy", "Always"))),
            ("usages", List("server auth", "client auth", "digital signature")),
            ("dnsNames", service.HasHttps ? DnsNames(service.Name) : null),
            ("uris", List(IdentityOf(service.Name).ToString())),
            ("issuerRef", IssuerRef(IssuerName)))));

    // The CSI driver expands ${POD_NAMESPACE} and ${SERVICE_ACCOUNT_NAME}: the identity is the pod's ServiceAccount's.
    private Node CsiAttributes(AppContainer service) => Map(
        ("csi.cert-manager.io/issuer-name", IssuerName),
        ("csi.cert-manager.io/issuer-kind", "Issuer"),
        ("csi.cert-manager.io/issuer-group", "cert-manager.io"),
        ("csi.cert-manager.io/common-name", "${SERVICE_ACCOUNT_NAME}"),
        ("csi.cert-manager.io/uri-sans", $"spiffe://{trustDomain}/ns/${{POD_NAMESPACE}}/sa/${{SERVICE_ACCOUNT_NAME}}"),
        ("csi.cert-manager.io/dns-names", service.HasHttps
            ? $"{service.Name},{service.Name}.${{POD_NAMESPACE}},{service.Name}.${{POD_NAMESPACE}}.svc,{service.Name}.${{POD_NAMESPACE}}.svc.cluster.local"
            : null),
        ("csi.cert-manager.io/key-usages", "server auth,client auth,digital signature"),
        ("csi.cert-manager.io/key-algorithm", "ECDSA"),
        ("csi.cert-manager.io/key-size", "256"),
        ("csi.cert-manager.io/key-encoding", "PKCS8"),
        ("csi.cert-manager.io/duration", GoDuration(leafLifetime)),
        ("csi.cert-manager.io/renew-before", GoDuration(leafLifetime / 3)),
        ("csi.cert-manager.io/fs-group", options.RunAsUser.ToString(CultureInfo.InvariantCulture)));

    private List<object> DnsNames(string service) =>
        [service, $"{service}.{Ns}", $"{service}.{Ns}.svc", $"{service}.{Ns}.svc.cluster.local"];

    private Node TrustBundle(string bundle) => Map(
        ("apiVersion", "v1"),
        ("kind", "ConfigMap"),
        ("metadata", Metadata(TrustBundleConfigMap)),
        ("data", Map(("ca.crt", bundle))));

    private Node Revocations() => Map(
        ("apiVersion", "v1"),
        ("kind", "ConfigMap"),
        ("metadata", Metadata(RevocationsConfigMap)),
        ("data", Map(("revoked.txt", "# One revoked serial per line: SERIALHEX [reason] [revoked-at], e.g.\n# 4F2A... keyCompromise\n"))));

    private IEnumerable<Node> CaPublisher()
    {
        yield return Map(
            ("apiVersion", "v1"),
            ("kind", "ServiceAccount"),
            ("metadata", Metadata(Publisher)));
        // Server-side apply checks create and patch against the object's name: only the ConfigMaps it publishes.
        List<object> managed = external is null ? [CrlConfigMap, TrustBundleConfigMap] : [CrlConfigMap];
        foreach (var node in ConfigMapWriters(Publisher, managed, ["get", "create", "patch"], Map(("kind", "ServiceAccount"), ("name", Publisher), ("namespace", Ns))))
        {
            yield return node;
        }

        // What the publisher reads and people edit (revocations, extra roots, the offline root CRL): writable by the
        // trust admins' group, by name. RBAC only allows, so nothing here stops another grant: docs/kubernetes.md says
        // which must never be made (write on ConfigMaps in this namespace, e.g. the edit or admin ClusterRole).
        List<object> inputs = external is null ? [RevocationsConfigMap, ExtraRootsConfigMap] : [RevocationsConfigMap, RootCrlConfigMap];
        foreach (var node in ConfigMapWriters(TrustAdmin, inputs, ["get", "update", "patch"], Map(("apiGroup", "rbac.authorization.k8s.io"), ("kind", "Group"), ("name", options.TrustAdminGroup))))
        {
            yield return node;
        }

        yield return Map(
            ("apiVersion", "batch/v1"),
            ("kind", "CronJob"),
            ("metadata", Metadata(Publisher)),
            ("spec", Map(
                ("schedule", options.CrlSchedule),
                ("concurrencyPolicy", "Forbid"),
                ("startingDeadlineSeconds", 120),
                ("successfulJobsHistoryLimit", 1),
                ("failedJobsHistoryLimit", 3),
                ("jobTemplate", Map(("spec", PublisherJobSpec()))))));
        // The first CRLs at once, not at the first schedule: pods cannot start before the ConfigMaps exist.
        yield return Map(
            ("apiVersion", "batch/v1"),
            ("kind", "Job"),
            ("metadata", Metadata($"{Publisher}-initial", Publisher)),
            ("spec", PublisherJobSpec().Add("ttlSecondsAfterFinished", 600)));
    }

    // A Role that may write only the ConfigMaps named, and its RoleBinding to one subject.
    private IEnumerable<Node> ConfigMapWriters(string name, List<object> configMaps, List<object> verbs, Node subject)
    {
        yield return Map(
            ("apiVersion", "rbac.authorization.k8s.io/v1"),
            ("kind", "Role"),
            ("metadata", Metadata(name)),
            ("rules", List(Map(("apiGroups", List(string.Empty)), ("resources", List("configmaps")), ("resourceNames", configMaps), ("verbs", verbs)))));
        yield return Map(
            ("apiVersion", "rbac.authorization.k8s.io/v1"),
            ("kind", "RoleBinding"),
            ("metadata", Metadata(name)),
            ("roleRef", Map(("apiGroup", "rbac.authorization.k8s.io"), ("kind", "Role"), ("name", name))),
            ("subjects", List(subject)));
    }

    private Node PublisherJobSpec()
    {
        List<object> args = ["publish-cluster", "--ca", "/var/run/mtls-ca/intermediate"];
        List<object> mounts = [Mount("intermediate-ca", "/var/run/mtls-ca/intermediate"), Mount("revocations", "/etc/mtls-revocations"), Mount("out", "/out", readOnly: false)];
        List<object> volumes =
        [
            SecretVolume("intermediate-ca", IntermediateSecret, "tls.crt", "tls.key"),
            ConfigMapVolume("revocations", RevocationsConfigMap, "revoked.txt"),
        ];
        if (external is null)
        {
            // Every trusted root: its CRL (of the intermediates it signed) and its certificate in the bundle.
            foreach (var generation in options.Roots)
            {
                args.AddRange(["--ca", RootMount(generation), "--root", RootMount(generation)]);
                mounts.Add(Mount(RootVolume(generation), RootMount(generation)));
                volumes.Add(SecretVolume(RootVolume(generation), RootName(generation), "tls.crt", "tls.key"));
            }

            // The extra roots' ConfigMap is easier to write than the CA Secrets: a root in it that would vouch for our trust
            // domain is left out of the bundle unless a root rotation is in progress (two roots above) or the setting says so.
            args.AddRange(["--extra-roots", "/etc/mtls-trust-extra/roots.pem", "--trust-domain", trustDomain]);
            if (options.AllowExtraRootsForTrustDomain)
            {
                args.Add("--allow-extra-roots-for-trust-domain");
            }

            mounts.Add(Mount("extra-roots", "/etc/mtls-trust-extra"));
            volumes.Add(ConfigMapVolume("extra-roots", ExtraRootsConfigMap, "roots.pem", optional: true));
        }
        else
        {
            args.AddRange(["--append-crl", "/etc/mtls-root-crl/crl.pem"]);
            mounts.Add(Mount("root-crl", "/etc/mtls-root-crl"));
            volumes.Add(ConfigMapVolume("root-crl", RootCrlConfigMap, "crl.pem"));
        }

        // The CRLs published before are the record of every revocation: a line deleted from revoked.txt stays revoked.
        args.AddRange(["--published-crl", $"{PublishedCrlPath}/crl.pem"]);
        mounts.Add(Mount("published-crl", PublishedCrlPath));
        volumes.Add(ConfigMapVolume("published-crl", CrlConfigMap, "crl.pem", optional: true)); // none before the first run
        args.AddRange(["--revoked", "/etc/mtls-revocations/revoked.txt", "--namespace", Ns, "--validity", GoDuration(options.CrlValidity), "--out", "/out"]);
        volumes.Add(Map(("name", "out"), ("emptyDir", Map())));
        volumes.Add(Map(("name", "tmp"), ("emptyDir", Map())));
        return Map(
            ("backoffLimit", 3),
            // A run that hangs (an image pull, the API server) must not hold the schedule (Forbid) until every CRL is stale.
            ("activeDeadlineSeconds", 240),
            ("template", Map(
                ("metadata", Map(("labels", Labels(Publisher)))),
                ("spec", Map(
                    ("serviceAccountName", Publisher),
                    ("restartPolicy", "OnFailure"),
                    ("securityContext", PodSecurity()),
                    ("initContainers", List(Map(
                        ("name", "sign"),
                        ("image", options.ImageOf("certbootstrap")),
                        ("imagePullPolicy", "IfNotPresent"),
                        ("args", args),
                        ("volumeMounts", mounts),
                        ("resources", Resources("20m", "64Mi", "200m", "128Mi")),
                        ("securityContext", ContainerSecurity())))),
                    ("containers", List(Map(
                        ("name", "apply"),
                        ("image", options.KubectlImage),
                        ("args", List("apply", "--server-side", $"--field-manager={Publisher}", "--force-conflicts", "--request-timeout=60s", "-f", "/out/configmaps.json")),
                        ("env", List(Map(("name", "HOME"), ("value", "/tmp")))), // kubectl's discovery cache, on a read-only root
                        ("volumeMounts", List(Mount("out", "/out"), Mount("tmp", "/tmp", readOnly: false))),
                        ("resources", Resources("20m", "32Mi", "200m", "128Mi")),
                        ("securityContext", ContainerSecurity())))),
                    ("volumes", volumes))))));
    }

    private static Node Mount(string volume, string path, bool readOnly = true) =>
        Map(("name", volume), ("mountPath", path), ("readOnly", readOnly ? true : null));

    private static Node SecretVolume(string name, string secret, params string[] keys) => Map(
        ("name", name),
        ("secret", Map(("secretName", secret), ("defaultMode", ReadOnlyForGroup), ("items", Items(keys)))));

    private static Node ConfigMapVolume(string name, string configMap, string key, bool optional = false) => Map(
        ("name", name),
        ("configMap", Map(("name", configMap), ("items", Items(key)), ("optional", optional ? true : null))));

    private static List<object> Items(params string[] keys) => [.. keys.Select(k => Map(("key", k), ("path", k)))];

    private Node PodSecurity() => Map(
        ("runAsNonRoot", true),
        ("runAsUser", options.RunAsUser),
        ("runAsGroup", options.RunAsUser),
        ("fsGroup", options.RunAsUser),
        ("seccompProfile", Map(("type", "RuntimeDefault"))));

    private static Node ContainerSecurity(bool readOnlyRoot = true) => Map(
        ("allowPrivilegeEscalation", false),
        ("readOnlyRootFilesystem", readOnlyRoot ? true : null),
        ("capabilities", Map(("drop", List("ALL")))));

    private static Node Resources(string cpuRequest, string memoryRequest, string cpuLimit, string memoryLimit) => Map(
        ("requests", Map(("cpu", cpuRequest), ("memory", memoryRequest))),
        ("limits", Map(("cpu", cpuLimit), ("memory", memoryLimit))));

    private Node ServiceAccount(string name) => Map(
        ("apiVersion", "v1"),
        ("kind", "ServiceAccount"),
        ("metadata", Metadata(name)),
        ("automountServiceAccountToken", false));

    private Node Deployment(AppPod pod, ClusterValues values)
    {
        var name = pod.Main.Name;
        var main = ServiceContainer(pod.Main, values);
        var containers = new List<object> { main };
        containers.AddRange(pod.Sidecars.Select(s => SidecarContainer(s, values)));
        // Volumes named by the paths the environment uses: one emptyDir per local directory, shared by every container that names it.
        var volumes = new List<object>();
        if (options.Credentials == KubernetesCredentials.Secret)
        {
            volumes.Add(Map(("name", "mtls"), ("projected", Map(("defaultMode", ReadOnlyForGroup), ("sources", List(
                Map(("secret", Map(("name", SecretOf(name)), ("items", Items("tls.crt", "tls.key"))))),
                Map(("configMap", Map(("name", TrustBundleConfigMap), ("items", Items("ca.crt"))))),
                Map(("configMap", Map(("name", CrlConfigMap), ("items", Items("crl.pem")))))))))));
        }
        else
        {
            // Each pod's own key, made on its node by the CSI driver, and a certificate for its ServiceAccount's identity;
            // the bundle and CRL come from the ConfigMaps, beside it (a CSI volume takes no other files).
            volumes.Add(Map(("name", "mtls"), ("csi", Map(("driver", "csi.cert-manager.io"), ("readOnly", true), ("volumeAttributes", CsiAttributes(pod.Main))))));
            volumes.Add(ConfigMapVolume("mtls-trust", TrustBundleConfigMap, "ca.crt"));
            volumes.Add(ConfigMapVolume("mtls-crl", CrlConfigMap, "crl.pem"));
        }

        volumes.Add(Map(("name", "tmp"), ("emptyDir", Map())));
        volumes.AddRange(values.Used.Select(v => v.Volume).Distinct().Order(StringComparer.Ordinal).Select(v => (object)Map(("name", v), ("emptyDir", Map()))));
        return Map(
            ("apiVersion", "apps/v1"),
            ("kind", "Deployment"),
            ("metadata", Metadata(name)),
            ("spec", Map(
                ("replicas", pod.Main.Replicas),
                ("selector", Map(("matchLabels", Map((NameLabel, name))))),
                ("template", Map(
                    ("metadata", Map(("labels", Labels(name)))),
                    ("spec", Map(
                        ("serviceAccountName", name),
                        ("automountServiceAccountToken", false),
                        ("securityContext", PodSecurity()),
                        ("containers", containers),
                        ("volumes", volumes))))))));
    }

    private Node ServiceContainer(AppContainer service, ClusterValues values)
    {
        var https = service.HasHttps ? $"https://+:{options.HttpsPort.ToString(CultureInfo.InvariantCulture)};" : string.Empty;
        var env = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["ASPNETCORE_URLS"] = $"{https}http://+:{options.ManagementPort.ToString(CultureInfo.InvariantCulture)}",
            ["Mtls__CredentialsDirectory"] = CredentialsPath,
            ["Mtls__TrustDomain"] = trustDomain,
        };
        var callers = graph.Pods.First(p => p.Main == service).Callers;
        for (var i = 0; i < callers.Count; i++)
        {
            env[$"Mtls__Authorization__ReferencedBy__{i.ToString(CultureInfo.InvariantCulture)}"] = IdentityOf(callers[i]).ToString();
        }

        var mounts = new List<object> { Mount("mtls", CredentialsPath) };
        if (options.Credentials == KubernetesCredentials.Csi)
        {
            env["Mtls__TrustBundleFile"] = $"{TrustPath}/ca.crt";
            env["Mtls__CrlFile"] = $"{CrlPath}/crl.pem";
            mounts.AddRange([Mount("mtls-trust", TrustPath), Mount("mtls-crl", CrlPath)]);
        }

        mounts.Add(Mount("tmp", "/tmp", readOnly: false));
        Common(service, values, env, mounts, replaced: ["ASPNETCORE_URLS", "Mtls__CredentialsDirectory", "Mtls__TrustDomain"]);
        List<object> ports = service.HasHttps
            ? [Map(("name", "https"), ("containerPort", options.HttpsPort)), Map(("name", "health"), ("containerPort", options.ManagementPort))]
            : [Map(("name", "health"), ("containerPort", options.ManagementPort))];
        return Map(
            ("name", service.Name),
            ("image", options.ImageOf(service.Name)),
            ("imagePullPolicy", "IfNotPresent"), // images loaded into the nodes (kind load) are used as they are
            ("ports", ports),
            ("env", EnvList(env)),
            ("volumeMounts", mounts),
            // The kubelet starts the container only once the Secret and both ConfigMaps exist and are in the volume;
            // /health answers once the service has loaded them and turns unhealthy if they are revoked or expired.
            ("startupProbe", Probe("/health", periodSeconds: 2, failureThreshold: 60)),
            ("readinessProbe", Probe("/health", periodSeconds: 5, failureThreshold: 2)),
            ("livenessProbe", Probe("/alive", periodSeconds: 10, failureThreshold: 3)),
            ("resources", Resources("50m", "96Mi", "500m", "256Mi")),
            ("securityContext", ContainerSecurity()));
    }

    private Node SidecarContainer(AppContainer sidecar, ClusterValues values)
    {
        var env = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var mounts = new List<object> { Mount("tmp", "/tmp", readOnly: false) };
        Common(sidecar, values, env, mounts, replaced: []);
        return Map(
            ("name", sidecar.Name),
            ("image", options.ImageOf(sidecar.Name)),
            ("imagePullPolicy", "IfNotPresent"),
            ("env", EnvList(env)),
            ("volumeMounts", mounts),
            ("resources", Resources("20m", "64Mi", "250m", "192Mi")),
            ("securityContext", ContainerSecurity()));
    }

    // The model's own environment (service discovery, paths, expiry thresholds, OTLP settings), resolved for the cluster;
    // each pod volume whose path a variable names is mounted into this container.
    private void Common(AppContainer container, ClusterValues values, SortedDictionary<string, string> env, List<object> mounts, string[] replaced)
    {
        foreach (var (variable, value) in container.Environment)
        {
            // ASPNETCORE_FORWARDEDHEADERS_ENABLED: no proxy stands in front of a pod, so X-Forwarded-For would only let a
            // caller choose the peer address the refusal logs record.
            if (replaced.Contains(variable) || variable is "HTTP_PORTS" or "HTTPS_PORTS" or "ASPNETCORE_FORWARDEDHEADERS_ENABLED"
                || variable.StartsWith("Mtls__Authorization__ReferencedBy__", StringComparison.Ordinal))
            {
                continue;
            }

            env[variable] = values.Resolve(variable, value);
        }

        env["OTEL_SERVICE_NAME"] = container.Name;
        if ((options.OtlpEndpoint ?? (options.Dashboard ? $"http://{Dashboard}:{DashboardOtlpPort.ToString(CultureInfo.InvariantCulture)}" : null)) is { } otlp)
        {
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp;
            env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc";
        }

        foreach (var (volume, path) in values.Used.Where(v => env.Values.Any(value => value.Contains(v.Path, StringComparison.Ordinal))).OrderBy(v => v.Volume, StringComparer.Ordinal))
        {
            mounts.Add(Mount(volume, path, readOnly: false));
        }
    }

    private static List<object> EnvList(SortedDictionary<string, string> env) =>
        [.. env.Select(pair => Map(("name", pair.Key), ("value", pair.Value)))];

    private static Node Probe(string path, int periodSeconds, int failureThreshold) => Map(
        ("httpGet", Map(("path", path), ("port", "health"))),
        ("periodSeconds", periodSeconds),
        ("failureThreshold", failureThreshold));

    private Node Service(string name) => Map(
        ("apiVersion", "v1"),
        ("kind", "Service"),
        ("metadata", Metadata(name)),
        ("spec", Map(
            ("selector", Map((NameLabel, name))),
            ("ports", List(
                Map(("name", "https"), ("port", options.HttpsPort), ("targetPort", "https")),
                Map(("name", "health"), ("port", options.ManagementPort), ("targetPort", "health")))))));

    private Node DefaultDeny() => Map(
        ("apiVersion", "networking.k8s.io/v1"),
        ("kind", "NetworkPolicy"),
        ("metadata", Metadata("default-deny-ingress", PartOf)),
        ("spec", Map(("podSelector", Map()), ("policyTypes", List("Ingress")))));

    // Ingress to a pod: its callers in the app model, on the mTLS port only; and the health port (kubelet probes come
    // from the node, whose address the manifests cannot know; that port serves only /health, /alive and /mtls/status).
    private Node NetworkPolicy(AppPod pod)
    {
        var rules = new List<object>();
        if (pod.Main.HasHttps && pod.Callers.Count > 0)
        {
            rules.Add(Map(
                ("from", pod.Callers.Select(c => (object)Map(("podSelector", Map(("matchLabels", Map((NameLabel, c))))))).ToList()),
                ("ports", List(Map(("protocol", "TCP"), ("port", "https"))))));
        }

        rules.Add(Map(("ports", List(Map(("protocol", "TCP"), ("port", "health"))))));
        return Map(
            ("apiVersion", "networking.k8s.io/v1"),
            ("kind", "NetworkPolicy"),
            ("metadata", Metadata($"{pod.Main.Name}-ingress", pod.Main.Name)),
            ("spec", Map(
                ("podSelector", Map(("matchLabels", Map((NameLabel, pod.Main.Name))))),
                ("policyTypes", List("Ingress")),
                ("ingress", rules))));
    }

    private IEnumerable<Node> DashboardObjects()
    {
        yield return Map(
            ("apiVersion", "apps/v1"),
            ("kind", "Deployment"),
            ("metadata", Metadata(Dashboard)),
            ("spec", Map(
                ("replicas", 1),
                ("selector", Map(("matchLabels", Map((NameLabel, Dashboard))))),
                ("template", Map(
                    ("metadata", Map(("labels", Labels(Dashboard)))),
                    ("spec", Map(
                        ("automountServiceAccountToken", false),
                        ("securityContext", PodSecurity()),
                        ("containers", List(Map(
                            ("name", Dashboard),
                            ("image", options.DashboardImage),
                            ("ports", List(Map(("name", "ui"), ("containerPort", DashboardUiPort)), Map(("name", "otlp-grpc"), ("containerPort", DashboardOtlpPort)))),
                            // The UI asks for the browser token printed in its log; OTLP is open only to the app's pods (NetworkPolicy below).
                            ("env", List(Map(("name", "Dashboard__Otlp__AuthMode"), ("value", "Unsecured")))),
                            ("resources", Resources("50m", "128Mi", "500m", "512Mi")),
                            ("securityContext", ContainerSecurity(readOnlyRoot: false))))))))))));
        yield return Map(
            ("apiVersion", "v1"),
            ("kind", "Service"),
            ("metadata", Metadata(Dashboard)),
            ("spec", Map(
                ("selector", Map((NameLabel, Dashboard))),
                ("ports", List(
                    Map(("name", "otlp-grpc"), ("port", DashboardOtlpPort), ("targetPort", "otlp-grpc")),
                    Map(("name", "ui"), ("port", DashboardUiPort), ("targetPort", "ui")))))));
        yield return Map(
            ("apiVersion", "networking.k8s.io/v1"),
            ("kind", "NetworkPolicy"),
            ("metadata", Metadata($"{Dashboard}-ingress", Dashboard)),
            ("spec", Map(
                ("podSelector", Map(("matchLabels", Map((NameLabel, Dashboard))))),
                ("policyTypes", List("Ingress")),
                ("ingress", List(Map(
                    ("from", List(Map(("podSelector", Map(("matchLabels", Map((PartOfLabel, PartOf)))))))),
                    ("ports", List(Map(("protocol", "TCP"), ("port", "otlp-grpc"))))))))));
    }

    /// <summary>A Go duration as cert-manager reads it: <c>24h</c>, <c>90m</c>, <c>45s</c>.</summary>
    public static string GoDuration(TimeSpan span) => span switch
    {
        _ when span.Ticks % TimeSpan.TicksPerHour == 0 => $"{((long)span.TotalHours).ToString(CultureInfo.InvariantCulture)}h",
        _ when span.Ticks % TimeSpan.TicksPerMinute == 0 => $"{((long)span.TotalMinutes).ToString(CultureInfo.InvariantCulture)}m",
        _ => $"{((long)Math.Ceiling(span.TotalSeconds)).ToString(CultureInfo.InvariantCulture)}s",
    };

    private string Readme()
    {
        var text = new System.Text.StringBuilder();
        text.Append("# MtlsAspire on Kubernetes (generated)\n\n")
            .Append("Generated by `dotnet run --project MtlsAspire.AppHost -- --operation publish --step kubernetes --output-path deploy/k8s`; ")
            .Append("see docs/kubernetes.md for cert-manager, rotation, revocation and what differs from local. ")
            .Append("Run the commands in this directory; paths into the PKI are relative to the repository root.\n\n")
            .Append(CultureInfo.InvariantCulture, $"Namespace `{Ns}` (the SPIFFE environment), trust domain `{trustDomain}`, CA mode `{(external is null ? "self-signed" : "external")}`, ")
            .Append(options.Credentials == KubernetesCredentials.Secret ? "a Certificate and Secret per service.\n\n" : "a key and certificate per pod from cert-manager's CSI driver.\n\n")
            .Append("```bash\n");
        foreach (var command in Commands("."))
        {
            text.Append(command).Append('\n');
        }

        text.Append("```\n\n| pod | identity | callers (NetworkPolicy and allow rule) |\n|---|---|---|\n");
        foreach (var pod in graph.Pods)
        {
            var name = pod.Sidecars.Count == 0 ? pod.Main.Name : $"{pod.Main.Name} (+ {string.Join(", ", pod.Sidecars.Select(s => s.Name))})";
            text.Append(CultureInfo.InvariantCulture, $"| {name} | `{IdentityOf(pod.Main.Name)}` | {(pod.Callers.Count == 0 ? "none" : string.Join(", ", pod.Callers))} |\n");
        }

        return text.ToString();
    }

    /// <summary>What to run, in order, to install the manifests in <paramref name="directory"/> (the external mode's Secret and root CRL from our PKI first).</summary>
    public IEnumerable<string> Commands(string directory)
    {
        if (options.Credentials == KubernetesCredentials.Csi)
        {
            yield return "# cert-manager's CSI driver makes each pod's key: helm install cert-manager-csi-driver jetstack/cert-manager-csi-driver -n cert-manager --wait";
        }

        yield return $"kubectl create namespace {Ns} --dry-run=client -o yaml | kubectl apply -f -";
        if (external is not null)
        {
            yield return "# the CA Issuer's Secret: our intermediate and its key (the root key stays offline)";
            yield return $"kubectl -n {Ns} create secret tls {IntermediateSecret} --cert={external.IntermediateCertificate} --key={external.IntermediateKey}";
            yield return "# the root's CRL, signed offline; refresh it before its nextUpdate (7 days) with 'CertBootstrap crl' and the same command with --dry-run=client -o yaml | kubectl apply -f -";
            yield return $"kubectl -n {Ns} create configmap {RootCrlConfigMap} --from-file=crl.pem={external.RootCrl}";
        }

        yield return $"kubectl create -f {Path.Combine(directory, "revocations.yaml")}   # once: an apply must never reset the revocation list";
        yield return $"kubectl apply -k {directory}";
    }
}
