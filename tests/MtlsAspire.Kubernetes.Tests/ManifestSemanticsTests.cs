using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MtlsAspire.Kubernetes.Tests.Infrastructure;

namespace MtlsAspire.Kubernetes.Tests;

/// <summary>What the manifests must mean, checked on the published YAML itself.</summary>
public sealed partial class ManifestSemanticsTests(PublishedManifests published) : IClassFixture<PublishedManifests>
{
    private const string TrustDomain = "mtls-aspire.local";
    private const string Namespace = "mtls-aspire";

    // The AppHost's references (MtlsAspire.AppHost/Program.cs): callee → callers. The intruder is local-only.
    private static readonly Dictionary<string, string[]> s_references = new()
    {
        ["order"] = ["shopper"],
        ["inventory"] = ["order"],
        ["payment"] = ["order"],
        ["legacy-proxy"] = ["payment"],
        ["shopper"] = [],
    };

    private Manifests Manifests => published.SelfSigned;

    private static string IdOf(string service) => $"spiffe://{TrustDomain}/ns/{Namespace}/sa/{service}";

    [Fact]
    public void There_is_one_pod_per_identity_and_the_ledger_shares_the_proxy_pod()
    {
        Assert.Equal(s_references.Keys.Order(), Manifests.OfKind("Deployment").Select(d => d.Name).Where(n => n != "aspire-dashboard").Order());
        var proxy = Containers(Manifests.Get("Deployment", "legacy-proxy")).Select(c => (string)c["name"]!).ToList();
        Assert.Equal(["legacy-proxy", "legacy-ledger"], proxy);
        var ledger = Containers(Manifests.Get("Deployment", "legacy-proxy")).Single(c => (string)c["name"]! == "legacy-ledger");
        Assert.Null(ledger["ports"]); // no TCP port at all
        Assert.Equal("http://unix:/run/legacy-ledger/app.sock", Env(ledger)["ASPNETCORE_URLS"]);
        Assert.DoesNotContain(Manifests.OfKind("Service"), s => s.Name == "legacy-ledger");
        Assert.DoesNotContain(Manifests.Objects, o => o.Name.Contains("intruder", StringComparison.Ordinal));
    }

    [Fact]
    public void Each_Certificate_is_the_SPIFFE_identity_its_callers_rules_name_with_the_cert_manager_settings_asked_for()
    {
        foreach (var (service, _) in s_references)
        {
            var spec = Manifests.Get("Certificate", service).Spec;
            Assert.Equal([IdOf(service)], Strings(spec["uris"]));
            Assert.Equal(["server auth", "client auth", "digital signature"], Strings(spec["usages"]));
            Assert.Equal("ECDSA", (string?)spec["privateKey"]!["algorithm"]);
            Assert.Equal("256", (string?)spec["privateKey"]!["size"]);
            Assert.Equal("PKCS8", (string?)spec["privateKey"]!["encoding"]); // our reader takes PKCS#8
            Assert.Equal("Always", (string?)spec["privateKey"]!["rotationPolicy"]);
            Assert.Equal("mtls-ca", (string?)spec["issuerRef"]!["name"]);
            var duration = CertManagerEmulator.Duration(spec["duration"]);
            Assert.Equal(duration / 3, CertManagerEmulator.Duration(spec["renewBefore"])); // renewed at 2/3
            Assert.Equal($"{service}-tls", (string?)spec["secretName"]);
            if (Manifests.OfKind("Service").Any(s => s.Name == service))
            {
                Assert.Contains(service, Strings(spec["dnsNames"]));
                Assert.Contains($"{service}.{Namespace}.svc", Strings(spec["dnsNames"]));
            }
        }

        // Every rule names a Certificate whose Secret is mounted by the pod of that name.
        foreach (var deployment in Manifests.OfKind("Deployment").Where(d => d.Name != "aspire-dashboard"))
        {
            var main = Containers(deployment).First();
            var rules = Env(main).Where(e => e.Key.StartsWith("Mtls__Authorization__ReferencedBy__", StringComparison.Ordinal)).Select(e => e.Value).ToList();
            Assert.Equal(s_references[deployment.Name].Select(IdOf).Order(), rules.Order());
            foreach (var rule in rules)
            {
                var certificate = Assert.Single(Manifests.OfKind("Certificate"), c => Strings(c.Spec["uris"]).Contains(rule));
                var caller = Manifests.Get("Deployment", rule[(rule.LastIndexOf('/') + 1)..]);
                Assert.Contains((string)certificate.Spec["secretName"]!, MountedSecrets(caller));
            }
        }
    }

    [Fact]
    public void The_root_Certificate_binds_the_root_to_the_trust_domain_and_the_intermediate_names_none()
    {
        var cas = Manifests.OfKind("Certificate").Where(c => (string?)c.Spec["isCA"] == "true").ToList();
        var root = Assert.Single(cas, c => (string?)c.Spec["issuerRef"]!["name"] == "mtls-selfsigned");
        Assert.Equal([$"spiffe://{TrustDomain}"], Strings(root.Spec["uris"]));
        Assert.All(cas.Where(c => c != root), c => Assert.Empty(Strings(c.Spec["uris"])));
    }

    [Fact]
    public void NetworkPolicy_ingress_is_the_reference_graph_on_the_mTLS_port_with_probes_on_the_health_port()
    {
        var deny = Manifests.Get("NetworkPolicy", "default-deny-ingress").Spec;
        Assert.Empty(deny["podSelector"]!.AsObject());
        Assert.Equal(["Ingress"], Strings(deny["policyTypes"]));
        foreach (var (callee, callers) in s_references)
        {
            var spec = Manifests.Get("NetworkPolicy", $"{callee}-ingress").Spec;
            Assert.Equal(callee, (string?)spec["podSelector"]!["matchLabels"]!["app.kubernetes.io/name"]);
            var rules = spec["ingress"]!.AsArray();
            var mtls = rules.Where(r => r!["from"] is not null).ToList();
            Assert.Equal(callers.Order(), mtls.SelectMany(r => r!["from"]!.AsArray()).Select(f => (string)f!["podSelector"]!["matchLabels"]!["app.kubernetes.io/name"]!).Order());
            Assert.All(mtls, r => Assert.Equal(["https"], r!["ports"]!.AsArray().Select(p => (string)p!["port"]!)));
            var open = Assert.Single(rules, r => r!["from"] is null);
            Assert.Equal(["health"], open!["ports"]!.AsArray().Select(p => (string)p!["port"]!));
        }
    }

    [Fact]
    public void Every_path_an_env_var_or_argument_names_is_in_a_volume_the_container_mounts()
    {
        var checkedPaths = 0;
        foreach (var (owner, pod) in PodSpecs())
        {
            foreach (var container in (pod["initContainers"]?.AsArray() ?? []).Concat(pod["containers"]!.AsArray()))
            {
                var mounts = (container!["volumeMounts"]?.AsArray() ?? []).Select(m => (string)m!["mountPath"]!).ToList();
                var volumes = (pod["volumes"]?.AsArray() ?? []).Select(v => (string)v!["name"]!).ToHashSet();
                Assert.All(container["volumeMounts"]?.AsArray() ?? [], m => Assert.Contains((string)m!["name"]!, volumes));
                var values = Env(container).Select(e => (e.Key, e.Value)).Concat(Strings(container["args"]).Select(a => ("argument", a)));
                foreach (var (name, value) in values)
                {
                    foreach (Match path in AbsolutePath().Matches(value))
                    {
                        checkedPaths++;
                        Assert.True(mounts.Any(m => path.Value == m || path.Value.StartsWith(m + "/", StringComparison.Ordinal)),
                            $"{owner}/{(string)container["name"]!}: {name} names {path.Value}, in none of its mounts {string.Join(", ", mounts)}");
                    }
                }
            }
        }

        Assert.True(checkedPaths >= 10, $"only {checkedPaths} paths found: the check looks at nothing");
    }

    [Fact]
    public void The_initial_publisher_Job_runs_exactly_the_CronJobs_pod_so_the_run_tests_cover_the_schedule_too()
    {
        var cron = Manifests.Get("CronJob", "mtls-ca-publisher").Spec["jobTemplate"]!["spec"]!["template"]!.ToJsonString();
        var initial = Manifests.Get("Job", "mtls-ca-publisher-initial").Spec["template"]!.ToJsonString();
        Assert.Equal(cron, initial);
        var apply = Manifests.Get("CronJob", "mtls-ca-publisher").Spec["jobTemplate"]!["spec"]!;
        Assert.Equal("240", (string?)apply["activeDeadlineSeconds"]); // a hung run cannot hold the schedule until the CRLs go stale
    }

    [Fact]
    public void Services_read_their_credentials_from_one_directory_holding_the_Secret_the_bundle_and_the_CRL()
    {
        foreach (var deployment in Manifests.OfKind("Deployment").Where(d => d.Name != "aspire-dashboard"))
        {
            var main = Containers(deployment).First();
            var directory = Env(main)["Mtls__CredentialsDirectory"];
            var mount = main["volumeMounts"]!.AsArray().Single(m => (string)m!["mountPath"]! == directory)!;
            var volume = deployment.Spec["template"]!["spec"]!["volumes"]!.AsArray().Single(v => (string)v!["name"]! == (string)mount["name"]!)!;
            var files = volume["projected"]!["sources"]!.AsArray()
                .SelectMany(s => (s!["secret"] ?? s["configMap"])!["items"]!.AsArray().Select(i => (string)i!["path"]!)).Order();
            Assert.Equal(["ca.crt", "crl.pem", "tls.crt", "tls.key"], files);
            Assert.Equal(["mtls-crl", "mtls-trust-bundle"], volume["projected"]!["sources"]!.AsArray()
                .Where(s => s!["configMap"] is not null).Select(s => (string)s!["configMap"]!["name"]!).Order());
        }
    }

    [Fact]
    public void Pods_run_as_non_root_with_limits_and_probe_the_plain_health_port()
    {
        foreach (var (owner, pod) in PodSpecs())
        {
            Assert.Equal("true", (string?)pod["securityContext"]!["runAsNonRoot"]);
            foreach (var container in (pod["initContainers"]?.AsArray() ?? []).Concat(pod["containers"]!.AsArray()))
            {
                Assert.NotNull(container!["resources"]?["limits"]?["cpu"]);
                Assert.NotNull(container["resources"]?["limits"]?["memory"]);
                Assert.Equal("false", (string?)container["securityContext"]!["allowPrivilegeEscalation"]);
                Assert.Equal(["ALL"], Strings(container["securityContext"]!["capabilities"]!["drop"]));
            }
        }

        foreach (var deployment in Manifests.OfKind("Deployment").Where(d => d.Name != "aspire-dashboard"))
        {
            var main = Containers(deployment).First();
            var health = main["ports"]!.AsArray().Single(p => (string)p!["name"]! == "health")!;
            Assert.Contains($"http://+:{(string)health["containerPort"]!}", Env(main)["ASPNETCORE_URLS"], StringComparison.Ordinal);
            Assert.Equal("/health", (string?)main["startupProbe"]!["httpGet"]!["path"]);
            Assert.Equal("/health", (string?)main["readinessProbe"]!["httpGet"]!["path"]);
            Assert.Equal("/alive", (string?)main["livenessProbe"]!["httpGet"]!["path"]);
            Assert.All(new[] { "startupProbe", "readinessProbe", "livenessProbe" }, probe => Assert.Equal("health", (string?)main[probe]!["httpGet"]!["port"]));
        }
    }

    [Fact]
    public void Service_discovery_is_in_Aspires_format_with_in_cluster_URLs()
    {
        var order = Env(Containers(Manifests.Get("Deployment", "order")).First());
        Assert.Equal("https://inventory:8443", order["services__inventory__https__0"]);
        Assert.Equal("https://payment:8443", order["services__payment__https__0"]);
        Assert.Equal("https://legacy-proxy:8443", Env(Containers(Manifests.Get("Deployment", "payment")).First())["services__legacy-proxy__https__0"]);
        Assert.Equal("http://aspire-dashboard:18889", order["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        Assert.DoesNotContain(PodSpecs().SelectMany(p => p.Pod["containers"]!.AsArray()).SelectMany(c => Env(c!).Values),
            value => value.Contains(Repository.Root, StringComparison.Ordinal)); // no path of this machine
    }

    [Fact]
    public void No_file_holds_a_private_key_a_Secret_or_a_path_of_this_machine()
    {
        Assert.DoesNotContain(Manifests.Objects, o => o.Kind == "Secret");
        foreach (var (name, text) in Manifests.Files)
        {
            Assert.DoesNotContain("PRIVATE KEY", text, StringComparison.Ordinal);
            Assert.DoesNotContain(Repository.Root, text, StringComparison.Ordinal);
            Assert.DoesNotContain("BEGIN CERTIFICATE", text, StringComparison.Ordinal); // self-signed mode: the cluster makes every certificate
        }
    }

    [Fact]
    public void Only_the_ca_publisher_may_write_the_configmaps_services_trust_and_only_the_trust_admins_its_inputs()
    {
        string[] writes = ["create", "update", "patch", "delete", "deletecollection", "*"];
        var writers = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var binding in Manifests.OfKind("RoleBinding"))
        {
            Assert.Equal("Role", (string?)binding.Json["roleRef"]!["kind"]); // no ClusterRole grants anything here
            var role = Manifests.Get("Role", (string)binding.Json["roleRef"]!["name"]!);
            foreach (var rule in role.Json["rules"]!.AsArray())
            {
                if (!Strings(rule!["resources"]).Intersect(["configmaps", "*"]).Any() || !Strings(rule["verbs"]).Intersect(writes).Any())
                {
                    continue;
                }

                var names = Strings(rule["resourceNames"]);
                Assert.True(names.Count > 0, $"{role} lets its subjects write every ConfigMap of the namespace");
                if (role.Name != "mtls-ca-publisher")
                {
                    Assert.DoesNotContain("create", Strings(rule["verbs"])); // only the publisher makes ConfigMaps
                }

                foreach (var name in names)
                {
                    var subjects = writers.TryGetValue(name, out var known) ? known : writers[name] = [];
                    subjects.AddRange(binding.Json["subjects"]!.AsArray().Select(s => $"{(string)s!["kind"]!}/{(string)s["name"]!}"));
                }
            }
        }

        Assert.Empty(Manifests.OfKind("ClusterRole"));
        Assert.Empty(Manifests.OfKind("ClusterRoleBinding"));
        Assert.Equal(["mtls-crl", "mtls-revocations", "mtls-trust-bundle", "mtls-trust-extra"], writers.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["ServiceAccount/mtls-ca-publisher"], writers["mtls-crl"]);
        Assert.Equal(["ServiceAccount/mtls-ca-publisher"], writers["mtls-trust-bundle"]);
        Assert.Equal(["Group/mtls-trust-admins"], writers["mtls-revocations"]);
        Assert.Equal(["Group/mtls-trust-admins"], writers["mtls-trust-extra"]);

        // A service's pod holds no API token at all, so a compromised service cannot write any of them.
        foreach (var deployment in Manifests.OfKind("Deployment"))
        {
            Assert.Equal("false", (string?)deployment.Spec["template"]!["spec"]!["automountServiceAccountToken"]);
        }
    }

    [Fact]
    public void The_publisher_reads_back_what_it_published_and_judges_extra_roots_against_the_trust_domain()
    {
        var pod = Manifests.Get("Job", "mtls-ca-publisher-initial").Spec["template"]!["spec"]!;
        var sign = pod["initContainers"]!.AsArray().Single()!;
        var args = Strings(sign["args"]);
        Assert.Equal(TrustDomain, args[args.IndexOf("--trust-domain") + 1]);
        Assert.DoesNotContain("--allow-extra-roots-for-trust-domain", args);
        var published = args[args.IndexOf("--published-crl") + 1];
        var mount = sign["volumeMounts"]!.AsArray().Single(m => published.StartsWith((string)m!["mountPath"]! + "/", StringComparison.Ordinal))!;
        var volume = pod["volumes"]!.AsArray().Single(v => (string)v!["name"]! == (string)mount["name"]!)!;
        Assert.Equal("mtls-crl", (string?)volume["configMap"]!["name"]);
        Assert.Equal("true", (string?)volume["configMap"]!["optional"]); // the first run has nothing to read back
    }

    [Fact]
    public async Task Publishing_again_gives_the_same_bytes_and_the_committed_deploy_k8s_is_current()
    {
        var again = Directory.CreateTempSubdirectory("k8s-again-").FullName;
        try
        {
            var second = await Manifests.PublishAsync(again);
            Assert.Equal(Manifests.Files.Keys, second.Files.Keys);
            foreach (var (name, text) in Manifests.Files)
            {
                Assert.True(text == second.Files[name], $"{name} differs between two publishes of the same model");
            }

            var committed = Manifests.Read(Path.Combine(Repository.Root, "deploy", "k8s"));
            Assert.Equal(Manifests.Files.Keys, committed.Files.Keys);
            foreach (var (name, text) in Manifests.Files)
            {
                Assert.True(text == committed.Files[name], $"deploy/k8s/{name} is not what the model publishes: run the README's publish command and commit the result");
            }
        }
        finally
        {
            Directory.Delete(again, recursive: true);
        }
    }

    private IEnumerable<(string Owner, JsonNode Pod)> PodSpecs() =>
        Manifests.OfKind("Deployment").Concat(Manifests.OfKind("Job")).Select(d => (d.ToString(), d.Spec["template"]!["spec"]!))
            .Concat(Manifests.OfKind("CronJob").Select(c => (c.ToString(), c.Spec["jobTemplate"]!["spec"]!["template"]!["spec"]!)));

    private static IEnumerable<JsonNode> Containers(ManifestObject deployment) => deployment.Spec["template"]!["spec"]!["containers"]!.AsArray().Select(c => c!);

    private static Dictionary<string, string> Env(JsonNode container) =>
        (container["env"]?.AsArray() ?? []).ToDictionary(e => (string)e!["name"]!, e => (string)e!["value"]!);

    private static List<string> Strings(JsonNode? node) => [.. (node?.AsArray() ?? []).Select(n => (string)n!)];

    private static IEnumerable<string> MountedSecrets(ManifestObject deployment) =>
        deployment.Spec["template"]!["spec"]!["volumes"]!.AsArray()
            .SelectMany(v => v!["projected"]?["sources"]?.AsArray() ?? [])
            .Where(s => s!["secret"] is not null).Select(s => (string)s!["secret"]!["name"]!);

    [GeneratedRegex(@"(?<=^|unix:|[;,=\s])/[A-Za-z0-9._-][A-Za-z0-9._/-]*")]
    private static partial Regex AbsolutePath();
}
