using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace MtlsAspire.Kubernetes.Tests.Infrastructure;

/// <summary>
/// Runs the published pod specs as local processes, as a kubelet would run them but without containers: each
/// container's image is the program of ours it packages, its environment is the one it declares (in-cluster URLs
/// mapped to loopback ports), and each volume is a directory filled from the Secret or ConfigMap it names, at the path
/// the container mounts it — every path an env var or argument names must lie in a mounted volume, or the pod fails.
/// Processes are stopped by id on dispose.
/// </summary>
public sealed partial class LocalCluster : IAsyncDisposable
{
    private Manifests _manifests;
    private readonly string _root;
    private readonly List<RunningContainer> _running = [];
    private readonly Dictionary<(string Pod, int ContainerPort), int> _ports = [];
    private readonly List<(string Pod, string Directory, JsonNode Volume)> _projected = [];
    private readonly Dictionary<(string Pod, string Container), ProcessStartInfo> _starts = [];
    private int _jobRuns;

    public LocalCluster(Manifests manifests, CertManagerEmulator certManager, string root)
    {
        _manifests = manifests;
        CertManager = certManager;
        _root = root;
        foreach (var configMap in manifests.OfKind("ConfigMap"))
        {
            ConfigMaps[configMap.Name] = Data(configMap.Json);
        }
    }

    public CertManagerEmulator CertManager { get; }

    /// <summary>The app's pods, callees before callers (a pod's env needs the ports of the pods it calls).</summary>
    public static IReadOnlyList<string> AppPods { get; } = ["legacy-proxy", "inventory", "payment", "order", "shopper"];

    /// <summary>
    /// What the README's install does, emulated: cert-manager issues every Certificate (<paramref name="prepare"/> may
    /// add Secrets first, as the external mode's printed commands do), <c>revocations.yaml</c> is created once, the
    /// initial publisher Job runs, then <paramref name="pods"/> start in order, each once its startup probe passes. On
    /// failure every process already started is stopped before the exception goes on.
    /// </summary>
    public static async Task<LocalCluster> InstallAsync(Manifests manifests, string root, IReadOnlyList<string> pods, Action<LocalCluster>? prepare = null)
    {
        var cluster = new LocalCluster(manifests, new CertManagerEmulator(manifests, TimeProvider.System), root);
        try
        {
            prepare?.Invoke(cluster);
            cluster.CertManager.IssueAll();
            foreach (var configMap in manifests.ParseAllFile("revocations.yaml"))
            {
                cluster.ConfigMaps[(string)configMap["metadata"]!["name"]!] = Data(configMap);
            }

            await cluster.RunJobAsync("mtls-ca-publisher-initial");
            foreach (var pod in pods)
            {
                await cluster.StartAsync(pod);
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>ConfigMaps by name: key → content (from the manifests, revocations.yaml and what a Job applied).</summary>
    public Dictionary<string, Dictionary<string, string>> ConfigMaps { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// <c>kubectl apply</c> of new manifests: cert-manager issues what is new or changed, ConfigMaps of the manifests are
    /// written, and later Jobs run from the new specs. Running pods keep theirs (these tests never change a Deployment).
    /// </summary>
    public void Apply(Manifests applied)
    {
        _manifests = applied;
        CertManager.Apply(applied);
        foreach (var configMap in applied.OfKind("ConfigMap"))
        {
            ConfigMaps[configMap.Name] = Data(configMap.Json);
        }
    }

    /// <summary>
    /// Revokes <paramref name="serial"/> the documented way: a line in <c>mtls-revocations</c>, a publisher run (the
    /// CronJob's pod template), and the kubelet's update of every volume.
    /// </summary>
    public async Task RevokeAsync(string serial, string reason = "keyCompromise")
    {
        ConfigMaps["mtls-revocations"]["revoked.txt"] += $"{serial} {reason}\n";
        await RunJobAsync("mtls-ca-publisher-initial");
        Propagate();
    }

    /// <summary>The loopback port of a running pod's plain management (health) port.</summary>
    public int HealthPort(string pod) => _ports[(pod, ContainerPort(pod, "health"))];

    /// <summary>The loopback port where <paramref name="service"/>'s port <paramref name="portName"/> is served.</summary>
    public int PortOf(string service, string portName)
    {
        var spec = _manifests.Get("Service", service).Spec;
        var port = spec["ports"]!.AsArray().Single(p => (string)p!["name"]! == portName)!;
        var pod = (string)spec["selector"]!["app.kubernetes.io/name"]!;
        return _ports[(pod, ContainerPort(pod, (string)port["targetPort"]!))];
    }

    /// <summary>
    /// Runs a Job's pod: its init containers (as processes, to completion), then its containers; a container running
    /// <c>kubectl apply -f FILE</c> is done here by reading FILE (a v1 List of ConfigMaps) into <see cref="ConfigMaps"/>.
    /// </summary>
    public async Task RunJobAsync(string job)
    {
        var pod = _manifests.Get("Job", job).Spec["template"]!["spec"]!;
        var run = $"{job}-{++_jobRuns}"; // each run is a new pod, with new volumes
        var volumes = await MaterializeVolumesAsync(run, pod);
        foreach (var container in pod["initContainers"]?.AsArray() ?? [])
        {
            var (start, _) = StartInfo(run, container!, volumes);
            var result = await ToolProcess.RunAsync(start, TimeSpan.FromMinutes(1));
            Assert.True(result.ExitCode == 0, $"Job {job}, init container {(string)container!["name"]!} exited {result.ExitCode}:\n{result.Everything}");
        }

        foreach (var container in pod["containers"]!.AsArray())
        {
            var args = container!["args"]!.AsArray().Select(a => (string)a!).ToList();
            Assert.True(args is ["apply", .., "-f", _], $"Job {job}: the emulator runs only 'kubectl apply ... -f FILE', not {string.Join(' ', args)}");
            var file = MapPath(run, args[^1], Mounts(container, volumes), "argument");
            var list = JsonNode.Parse(await File.ReadAllTextAsync(file))!;
            Assert.Equal("List", (string?)list["kind"]);
            foreach (var item in list["items"]!.AsArray())
            {
                Assert.Equal("ConfigMap", (string?)item!["kind"]);
                Assert.Equal(_manifests.Get("Namespace", (string)item["metadata"]!["namespace"]!).Name, (string?)item["metadata"]!["namespace"]);
                ConfigMaps[(string)item["metadata"]!["name"]!] = Data(item);
            }
        }
    }

    /// <summary>Starts a Deployment's pod (one replica) and waits until every container's startup probe passes.</summary>
    public async Task StartAsync(string deployment)
    {
        var pod = _manifests.Get("Deployment", deployment).Spec["template"]!["spec"]!;
        foreach (var container in pod["containers"]!.AsArray())
        {
            foreach (var port in container!["ports"]?.AsArray() ?? [])
            {
                _ports.TryAdd((deployment, int.Parse((string)port!["containerPort"]!, CultureInfo.InvariantCulture)), FreePort());
            }
        }

        var volumes = await MaterializeVolumesAsync(deployment, pod);
        var started = new List<(RunningContainer Running, JsonNode Spec)>();
        foreach (var container in pod["containers"]!.AsArray())
        {
            var (start, name) = StartInfo(deployment, container!, volumes);
            _starts[(deployment, name)] = start;
            var running = RunningContainer.Start(deployment, name, start);
            _running.Add(running);
            started.Add((running, container!));
        }

        foreach (var (running, spec) in started)
        {
            if (spec["startupProbe"]?["httpGet"] is { } probe)
            {
                var port = _ports[(deployment, ContainerPort(deployment, (string)probe["port"]!))];
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
                while (true)
                {
                    if (running.HasExited)
                    {
                        Assert.Fail($"{deployment}/{running.Name} exited with {running.ExitCode} before its startup probe passed:\n{running.Output}");
                    }

                    Assert.True(DateTime.UtcNow < deadline, $"{deployment}/{running.Name}: startup probe {(string)probe["path"]!} never passed:\n{running.Output}");
                    try
                    {
                        using var response = await http.GetAsync($"http://127.0.0.1:{port}{(string)probe["path"]!}");
                        if (response.IsSuccessStatusCode)
                        {
                            break;
                        }
                    }
                    catch (HttpRequestException)
                    {
                    }
                    catch (TaskCanceledException)
                    {
                    }

                    await Task.Delay(100);
                }
            }
        }
    }

    /// <summary>The output of a running container so far (its latest run).</summary>
    public string OutputOf(string pod, string container) => _running.Last(r => r.Pod == pod && r.Name == container).Output;

    /// <summary>Kills a container's process with SIGKILL, as an OOM kill would: nothing of it cleans up.</summary>
    public async Task KillAsync(string pod, string container) => await _running.Last(r => r.Pod == pod && r.Name == container).StopAsync();

    /// <summary>Starts a container again in its pod, with the same volumes (the kubelet's restart of a container).</summary>
    public void Restart(string pod, string container) => _running.Add(RunningContainer.Start(pod, container, _starts[(pod, container)]));

    /// <summary>The local directory of a pod's volume.</summary>
    public string VolumeDirectory(string pod, string volume) => Path.Combine(_root, pod, "volumes", volume);

    /// <summary>
    /// What the kubelet does when a ConfigMap or Secret changes: rewrites every secret, configMap and projected volume, all
    /// files at once (a new <c>..data</c> directory swapped in by rename, as the kubelet's atomic writer does).
    /// </summary>
    public void Propagate()
    {
        foreach (var (pod, directory, volume) in _projected)
        {
            var generation = Path.Combine(directory, $"..{DateTime.UtcNow.Ticks.ToString(CultureInfo.InvariantCulture)}");
            Directory.CreateDirectory(generation);
            foreach (var (key, content) in Sources(pod, volume))
            {
                File.WriteAllText(Path.Combine(generation, key), content);
            }

            var link = Path.Combine(directory, "..data.tmp");
            File.CreateSymbolicLink(link, Path.GetFileName(generation));
            Assert.True(Rename(link, Path.Combine(directory, "..data")) == 0, $"rename of {link}: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var running in _running)
        {
            await running.StopAsync();
        }
    }

    private async Task<Dictionary<string, string>> MaterializeVolumesAsync(string pod, JsonNode podSpec)
    {
        var volumes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var volume in podSpec["volumes"]?.AsArray() ?? [])
        {
            var name = (string)volume!["name"]!;
            var directory = VolumeDirectory(pod, name);
            Directory.CreateDirectory(directory);
            volumes[name] = directory;
            if (volume["emptyDir"] is not null)
            {
                continue;
            }

            if (volume["csi"] is { } csi)
            {
                Assert.Equal("csi.cert-manager.io", (string?)csi["driver"]);
                var files = CertManager.IssueForCsi(csi["volumeAttributes"]!, _manifests.Namespace(pod), (string)podSpec["serviceAccountName"]!);
                foreach (var (key, content) in files)
                {
                    await File.WriteAllTextAsync(Path.Combine(directory, key), content);
                }

                continue;
            }

            // Like the kubelet: the files live in a ..data generation, each name a symlink into it.
            var generation = Path.Combine(directory, "..initial");
            Directory.CreateDirectory(generation);
            foreach (var (key, content) in Sources(pod, volume))
            {
                await File.WriteAllTextAsync(Path.Combine(generation, key), content);
                File.SetUnixFileMode(Path.Combine(generation, key), UnixFileMode.UserRead | UnixFileMode.GroupRead);
                File.CreateSymbolicLink(Path.Combine(directory, key), Path.Combine("..data", key));
            }

            File.CreateSymbolicLink(Path.Combine(directory, "..data"), "..initial");
            _projected.Add((pod, directory, volume)); // the kubelet keeps secret, configMap and projected volumes current
        }

        return volumes;
    }

    // The files of a secret, configMap or projected volume; a missing non-optional source fails, as the pod would never start.
    private IEnumerable<(string Key, string Content)> Sources(string pod, JsonNode volume)
    {
        IEnumerable<JsonNode> sources = volume["projected"] is { } projected ? projected["sources"]!.AsArray().Select(s => s!) : [volume];
        foreach (var source in sources)
        {
            var (kind, store, name) = source["secret"] is { } secret
                ? ("Secret", CertManager.Secrets, (string)(secret["secretName"] ?? secret["name"])!)
                : ("ConfigMap", ConfigMaps, (string)source["configMap"]!["name"]!);
            var reference = source["secret"] ?? source["configMap"]!;
            if (!store.TryGetValue(name, out var data))
            {
                Assert.True((string?)reference["optional"] == "true", $"pod {pod} cannot start: {kind} {name} does not exist");
                continue;
            }

            foreach (var item in reference["items"]?.AsArray() ?? [])
            {
                var key = (string)item!["key"]!;
                Assert.True(data.ContainsKey(key), $"pod {pod}: {kind} {name} has no key {key}");
                yield return ((string)item["path"]!, data[key]);
            }
        }
    }

    private (ProcessStartInfo Start, string Name) StartInfo(string pod, JsonNode container, Dictionary<string, string> volumes)
    {
        var name = (string)container["name"]!;
        var mounts = Mounts(container, volumes);
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet") { WorkingDirectory = _root };
        start.ArgumentList.Add(Repository.ProgramOf((string)container["image"]!));
        foreach (var arg in container["args"]?.AsArray() ?? [])
        {
            start.ArgumentList.Add(MapValue(pod, (string)arg!, mounts, $"argument of {name}"));
        }

        // Only what the container declares (and what the dotnet host needs to run at all).
        start.Environment.Clear();
        foreach (var keep in new[] { "PATH", "HOME", "DOTNET_ROOT", "TMPDIR" })
        {
            if (Environment.GetEnvironmentVariable(keep) is { } value)
            {
                start.Environment[keep] = value;
            }
        }

        foreach (var variable in container["env"]?.AsArray() ?? [])
        {
            var key = (string)variable!["name"]!;
            var value = (string)variable["value"]!;
            if (key.StartsWith("OTEL_EXPORTER_OTLP_", StringComparison.Ordinal) && value.Contains("aspire-dashboard", StringComparison.Ordinal))
            {
                continue; // the optional dashboard is not run here
            }

            start.Environment[key] = MapValue(pod, value, mounts, $"env {key} of {name}");
        }

        return (start, name);
    }

    private static List<(string MountPath, string Directory)> Mounts(JsonNode container, Dictionary<string, string> volumes) =>
        [.. (container["volumeMounts"]?.AsArray() ?? []).Select(m => ((string)m!["mountPath"]!, volumes.TryGetValue((string)m["name"]!, out var d)
            ? d : throw new InvalidOperationException($"volumeMount {(string)m["name"]!} names no volume of the pod")))];

    // In-cluster URLs to loopback, "+" listen addresses to 127.0.0.1, container paths to their volume's directory.
    private string MapValue(string pod, string value, List<(string MountPath, string Directory)> mounts, string what)
    {
        value = ClusterUrl().Replace(value, match =>
        {
            var host = match.Groups["host"].Value;
            var port = int.Parse(match.Groups["port"].Value, CultureInfo.InvariantCulture);
            if (host is "+" or "*" or "0.0.0.0")
            {
                Assert.True(_ports.TryGetValue((pod, port), out var own), $"{what} listens on {port}, which is no containerPort of pod {pod}");
                return $"{match.Groups["scheme"].Value}://127.0.0.1:{own}";
            }

            // A Service's name alone, or qualified with the pods' own namespace: another namespace is another service.
            var parts = host.Split('.');
            Assert.True(parts.Length == 1 || parts[1] == _manifests.Namespace(pod), $"{what} names {host}, outside the namespace of pod {pod}");
            var service = _manifests.Get("Service", parts[0]);
            var portSpec = service.Spec["ports"]!.AsArray().SingleOrDefault(p => (string)p!["port"]! == match.Groups["port"].Value)
                ?? throw new InvalidOperationException($"{what}: Service {service.Name} has no port {port}");
            var target = (string)service.Spec["selector"]!["app.kubernetes.io/name"]!;
            Assert.True(_ports.TryGetValue((target, ContainerPort(target, (string)portSpec["targetPort"]!)), out var local), $"{what}: pod {target} is not running");
            return $"{match.Groups["scheme"].Value}://127.0.0.1:{local}";
        });
        return AbsolutePath().Replace(value, match => MapPath(pod, match.Value, mounts, what));
    }

    private static string MapPath(string pod, string path, List<(string MountPath, string Directory)> mounts, string what)
    {
        var mount = mounts.Where(m => path == m.MountPath || path.StartsWith(m.MountPath + "/", StringComparison.Ordinal)).MaxBy(m => m.MountPath.Length);
        Assert.True(mount != default, $"pod {pod}: {what} names {path}, which is in no volume the container mounts ({string.Join(", ", mounts.Select(m => m.MountPath))})");
        return mount.Directory + path[mount.MountPath.Length..];
    }

    private int ContainerPort(string pod, string portName)
    {
        if (int.TryParse(portName, CultureInfo.InvariantCulture, out var number))
        {
            return number;
        }

        var containers = _manifests.Get("Deployment", pod).Spec["template"]!["spec"]!["containers"]!.AsArray();
        var port = containers.SelectMany(c => c!["ports"]?.AsArray() ?? []).SingleOrDefault(p => (string)p!["name"]! == portName)
            ?? throw new InvalidOperationException($"pod {pod} has no port named {portName}");
        return int.Parse((string)port!["containerPort"]!, CultureInfo.InvariantCulture);
    }

    private static Dictionary<string, string> Data(JsonNode configMap) =>
        (configMap["data"]?.AsObject() ?? []).ToDictionary(p => p.Key, p => (string)p.Value!, StringComparer.Ordinal);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    // rename(2) replaces the ..data link atomically, as the kubelet's atomic writer does (File.Move will not move a link to a directory).
    [LibraryImport("libc", EntryPoint = "rename", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Rename(string from, string to);

    [GeneratedRegex(@"(?<scheme>https?)://(?<host>\+|\*|[a-z0-9][a-z0-9.-]*):(?<port>[0-9]+)")]
    private static partial Regex ClusterUrl();

    // An absolute path: at the start, after "unix:", or after a separator; never the "//" of a URL.
    [GeneratedRegex(@"(?<=^|unix:|[;,=\s])/[A-Za-z0-9._-][A-Za-z0-9._/-]*")]
    private static partial Regex AbsolutePath();

    private sealed class RunningContainer
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();
        private bool _stopped;

        private RunningContainer(string pod, string name, Process process)
        {
            Pod = pod;
            Name = name;
            _process = process;
        }

        public string Pod { get; }

        public string Name { get; }

        public bool HasExited => _stopped || _process.HasExited;

        public int ExitCode => _process.ExitCode;

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return _output.ToString();
                }
            }
        }

        public static RunningContainer Start(string pod, string name, ProcessStartInfo start)
        {
            start.RedirectStandardOutput = true;
            start.RedirectStandardError = true;
            start.RedirectStandardInput = true;
            start.UseShellExecute = false;
            var process = Process.Start(start) ?? throw new InvalidOperationException($"{pod}/{name} did not start.");
            process.StandardInput.Close();
            var running = new RunningContainer(pod, name, process);
            process.OutputDataReceived += (_, e) => running.Append(e.Data);
            process.ErrorDataReceived += (_, e) => running.Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return running;
        }

        public async Task StopAsync()
        {
            if (_stopped)
            {
                return;
            }

            _stopped = true;
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync();
            _process.Dispose();
        }

        private void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }
}
