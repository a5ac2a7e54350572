using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Storage;

namespace MtlsAspire.Hosting;

/// <summary>Where a running resource can be reached.</summary>
/// <param name="Https">The mTLS API endpoint (services).</param>
/// <param name="Health">The plain health endpoint.</param>
/// <param name="Socket">The Unix socket (Unix-socket resources).</param>
/// <param name="Credentials">The certificate directory (tls.crt, tls.key, ca.crt, crl.pem), for curl and openssl.</param>
/// <param name="SpiffeId">The SPIFFE ID, for resources with an identity.</param>
public sealed record ResourceEndpoints(Uri? Https, Uri? Health, string? Socket, string? Credentials, string? SpiffeId);

/// <summary>
/// The running app: bootstraps the PKI, starts each resource's built assembly as a child process with Aspire-style
/// environment once what it waits for is healthy, relays output, writes <c>{state}/endpoints.json</c>, renews
/// certificates while running, and stops every child by process id.
/// </summary>
public sealed class MtlsApplication : IAsyncDisposable
{
    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
    private readonly MtlsApplicationOptions _options;
    private readonly Lock _outputLock = new();
    private readonly Dictionary<string, ResourceProcess> _processes = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, ResourceEndpoints> _endpoints = new(StringComparer.Ordinal);
    private readonly CertificateLifecycle _certificates;
    private readonly CancellationTokenSource _stopping = new();
    private readonly HashSet<string> _stopped = new(StringComparer.Ordinal);
    private Task _renewals = Task.CompletedTask;

    internal MtlsApplication(MtlsApplicationOptions options, List<ProjectResource> resources)
    {
        _options = options;
        Resources = resources;
        _certificates = new CertificateLifecycle(options, TimeProvider.System, Say);
    }

    /// <summary>The resources of this run.</summary>
    public IReadOnlyList<ProjectResource> Resources { get; }

    /// <summary>Where each resource can be reached (filled by <see cref="StartAsync"/>).</summary>
    public IReadOnlyDictionary<string, ResourceEndpoints> Endpoints => _endpoints;

    /// <summary>The PKI (after start).</summary>
    public CertificateAuthority Authority => _certificates.Authority;

    /// <summary>The state directory.</summary>
    public string StateDirectory => _options.StateDirectory;

    /// <summary>The process ids of the running children.</summary>
    public IReadOnlyDictionary<string, int> ProcessIds => _processes.ToDictionary(p => p.Key, p => p.Value.ProcessId);

    /// <summary>Starts everything; on any failure stops what it started and throws naming the resource.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        foreach (var resource in Resources)
        {
            if (!File.Exists(resource.AssemblyPath))
            {
                throw new InvalidOperationException($"Resource '{resource.Name}': its build output {resource.AssemblyPath} is missing. Build first: dotnet build MtlsAspire.sln");
            }
        }

        SecureFiles.CreatePrivateDirectory(_options.StateDirectory);
        var identities = Resources.Where(r => r.HasIdentity).ToList();
        _certificates.Bootstrap(identities);
        foreach (var resource in Resources.Where(r => r.HasRejectionKit))
        {
            _certificates.PrepareRejectionKit(resource);
        }

        AllocateEndpoints();
        WriteEndpointsFile();

        var healthy = new Dictionary<ProjectResource, Task>();
        foreach (var resource in Resources)
        {
            healthy[resource] = Task.CompletedTask;
        }

        foreach (var resource in Resources)
        {
            healthy[resource] = StartWhenReadyAsync(resource, healthy, cancellationToken);
        }

        try
        {
            await Task.WhenAll(healthy.Values);
        }
        catch
        {
            await StopAsync();
            var failure = healthy.Values.FirstOrDefault(t => t.IsFaulted)?.Exception?.InnerException;
            throw failure ?? new InvalidOperationException("The app did not start.");
        }

        PrintTable();
        _renewals = Task.Run(() => _certificates.RunAsync(identities, _stopping.Token), CancellationToken.None);
        foreach (var process in _processes.Values)
        {
            _ = ReportExitAsync(process);
        }
    }

    private async Task StartWhenReadyAsync(ProjectResource resource, Dictionary<ProjectResource, Task> healthy, CancellationToken cancellationToken)
    {
        await Task.Yield();
        foreach (var dependency in resource.WaitsFor)
        {
            Task? wait;
            lock (healthy)
            {
                wait = healthy[dependency];
            }

            await wait;
        }

        File.Delete(BoundAddressesFile(resource));
        var process = ResourceProcess.Start(resource, EnvironmentOf(resource), _options.Output, _outputLock);
        lock (_processes)
        {
            _processes[resource.Name] = process;
        }

        Say($"started {resource.Name} (pid {process.ProcessId})");
        await WaitHealthyAsync(resource, process, cancellationToken);
        Say($"{resource.Name} is healthy");
    }

    private async Task WaitHealthyAsync(ProjectResource resource, ResourceProcess process, CancellationToken cancellationToken)
    {
        using var client = HealthClient(resource);
        var deadline = DateTime.UtcNow + _options.StartTimeout;
        var bound = resource.Kind == ResourceKind.UnixSocket;
        while (true)
        {
            if (process.Exited.IsCompleted)
            {
                throw new InvalidOperationException(
                    $"Resource '{resource.Name}' exited with code {process.Exited.Result} while starting. Its last output:{System.Environment.NewLine}{process.Tail}");
            }

            if (!bound && File.Exists(BoundAddressesFile(resource)))
            {
                RecordBoundAddresses(resource, File.ReadAllLines(BoundAddressesFile(resource)));
                WriteEndpointsFile();
                bound = true;
            }

            try
            {
                if (!bound)
                {
                    throw new HttpRequestException("not bound yet");
                }

                using var response = await client.GetAsync(_endpoints[resource.Name].Health, cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"Resource '{resource.Name}' did not become healthy within {_options.StartTimeout.TotalSeconds:0} s. Its last output:{System.Environment.NewLine}{process.Tail}");
            }

            await Task.WhenAny(process.Exited, Task.Delay(100, cancellationToken));
        }
    }

    /// <summary>An HttpClient that reaches the resource's plain HTTP (over its Unix socket when it has one): health checks, tests.</summary>
    public static HttpClient HealthClient(ProjectResource resource)
    {
        var handler = new SocketsHttpHandler();
        if (resource.Kind == ResourceKind.UnixSocket)
        {
            var path = resource.SocketPath;
            handler.ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }

        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
    }

    private async Task ReportExitAsync(ResourceProcess process)
    {
        var code = await process.Exited;
        if (!_stopping.IsCancellationRequested)
        {
            Say($"resource {process.Resource.Name} (pid {process.ProcessId}) exited unexpectedly with code {code}. Its last output:{System.Environment.NewLine}{process.Tail}");
        }
    }

    /// <summary>Stops every child by process id (SIGTERM, then kill after 10 s) and the renewal loop.</summary>
    public async Task StopAsync()
    {
        await _stopping.CancelAsync();
        try
        {
            await _renewals;
        }
        catch (OperationCanceledException)
        {
        }

        List<ResourceProcess> processes;
        lock (_processes)
        {
            processes = [.. _processes.Values.Where(p => !p.Exited.IsCompleted || !_stopped.Contains(p.Resource.Name))];
        }

        // Dependents first: reverse start order.
        foreach (var process in processes.AsEnumerable().Reverse())
        {
            await process.StopAsync(TimeSpan.FromSeconds(10));
            if (_stopped.Add(process.Resource.Name))
            {
                Say($"stopped {process.Resource.Name} (pid {process.ProcessId}, exit code {process.Exited.Result})");
            }
        }
    }

    /// <summary>Starts, runs until Ctrl+C or SIGTERM, stops. Returns the process exit code.</summary>
    public async Task<int> RunAsync()
    {
        using var shutdown = new CancellationTokenSource();
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            shutdown.Cancel();
        });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            context.Cancel = true;
            shutdown.Cancel();
        });
        try
        {
            await StartAsync(shutdown.Token);
        }
        catch (Exception e) when (e is InvalidOperationException or PkiException or IOException or OperationCanceledException)
        {
            Say($"error: {e.Message}");
            return 1;
        }

        Say("running; press Ctrl+C to stop");
        try
        {
            await Task.Delay(Timeout.Infinite, shutdown.Token);
        }
        catch (OperationCanceledException)
        {
        }

        Say("stopping");
        await StopAsync();
        return 0;
    }

    private Dictionary<string, string> EnvironmentOf(ProjectResource resource)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["DOTNET_ENVIRONMENT"] = "Development",
            // Port 0: the child binds and reports the ports the OS gave it (no window for another process to take them).
            ["ASPNETCORE_URLS"] = resource.Kind switch
            {
                ResourceKind.Service => "https://127.0.0.1:0;http://127.0.0.1:0",
                ResourceKind.Worker => "http://127.0.0.1:0",
                _ => $"http://unix:{resource.SocketPath}",
            },
            ["MtlsAspire__EndpointsFile"] = BoundAddressesFile(resource),
            ["OTEL_SERVICE_NAME"] = resource.Name,
            ["OTEL_RESOURCE_ATTRIBUTES"] = $"service.instance.id={resource.Name}-{Guid.NewGuid().ToString("N")[..8]}",
            ["Logging__Console__FormatterName"] = "simple",
            ["Logging__Console__FormatterOptions__SingleLine"] = "true",
            ["Logging__LogLevel__Default"] = "Information",
            ["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning",
            ["Logging__LogLevel__System.Net.Http.HttpClient"] = "Warning",
            ["Logging__LogLevel__Polly"] = "Warning",
            ["Logging__LogLevel__Yarp"] = "Warning",
        };

        if (_options.OtlpEndpoint is { Length: > 0 } otlp)
        {
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp;
            environment["OTEL_EXPORTER_OTLP_PROTOCOL"] = System.Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_PROTOCOL") ?? "grpc";
            environment["OTEL_METRIC_EXPORT_INTERVAL"] = "1000";
            environment["OTEL_BSP_SCHEDULE_DELAY"] = "1000";
            environment["OTEL_BLRP_SCHEDULE_DELAY"] = "1000";
        }

        if (resource.HasIdentity)
        {
            environment["Mtls__CredentialsDirectory"] = Authority.Layout.ServiceDirectory(resource.Name);
        }

        var callers = resource.Callers.Where(c => c.HasIdentity && Resources.Contains(c)).Select(c => c.Name).ToList();
        for (var i = 0; i < callers.Count; i++)
        {
            environment[$"Mtls__Authorization__Rules__{resource.CallerRule}__{i}"] = callers[i];
        }

        if (resource.HasRejectionKit)
        {
            environment["Intruder__Kit"] = _certificates.KitDirectory(resource);
        }

        foreach (var reference in resource.References.Concat(resource.Discovers).Where(r => r.Kind == ResourceKind.Service))
        {
            environment[$"services__{reference.Name}__https__0"] = _endpoints[reference.Name].Https!.ToString().TrimEnd('/');
        }

        foreach (var (name, value) in resource.Environment)
        {
            environment[name] = value;
        }

        return environment;
    }

    private void AllocateEndpoints()
    {
        foreach (var resource in Resources)
        {
            SecureFiles.CreatePrivateDirectory(resource.DataDirectory);
            SecureFiles.CreatePrivateDirectory(Path.GetDirectoryName(BoundAddressesFile(resource))!);
            var credentials = resource.HasIdentity ? Authority.Layout.ServiceDirectory(resource.Name) : null;
            var spiffe = resource.HasIdentity ? resource.SpiffeId.ToString() : null;
            if (resource.Kind == ResourceKind.UnixSocket)
            {
                File.Delete(resource.SocketPath); // a stale socket from a previous run
                _endpoints[resource.Name] = new ResourceEndpoints(null, new Uri("http://localhost/health"), resource.SocketPath, credentials, spiffe);
                continue;
            }

            // The ports are known once the child has bound them (RecordBoundAddresses).
            _endpoints[resource.Name] = new ResourceEndpoints(null, null, null, credentials, spiffe);
        }
    }

    private string BoundAddressesFile(ProjectResource resource) => Path.Combine(_options.StateDirectory, "run", resource.Name, "bound-addresses");

    private void RecordBoundAddresses(ProjectResource resource, string[] addresses)
    {
        var https = addresses.Select(a => new Uri(a)).FirstOrDefault(u => u.Scheme == Uri.UriSchemeHttps);
        var http = addresses.Select(a => new Uri(a)).FirstOrDefault(u => u.Scheme == Uri.UriSchemeHttp)
            ?? throw new InvalidOperationException($"Resource '{resource.Name}' reported no plain management address ({string.Join(", ", addresses)}).");
        _endpoints[resource.Name] = _endpoints[resource.Name] with
        {
            // By host name: the certificates name localhost, and the .NET client resumes TLS sessions only to host names.
            Https = https is null ? null : new Uri($"https://localhost:{https.Port}"),
            Health = new Uri($"http://127.0.0.1:{http.Port}/health"),
        };
    }

    private void WriteEndpointsFile()
    {
        var json = JsonSerializer.Serialize(_endpoints, s_json);
        SecureFiles.ReplaceAtomically(Path.Combine(_options.StateDirectory, "endpoints.json"), json + "\n", SecureFiles.Public);
    }

    private void PrintTable()
    {
        Say($"{"RESOURCE",-14} {"PID",-8} {"ENDPOINT",-40} {"HEALTH",-36} IDENTITY");
        foreach (var resource in Resources)
        {
            var endpoints = _endpoints[resource.Name];
            var endpoint = endpoints.Https?.ToString() ?? (endpoints.Socket is { } socket ? $"unix:{socket}" : "(worker)");
            var health = endpoints.Socket is null ? endpoints.Health!.ToString() : "(over the socket)";
            Say($"{resource.Name,-14} {_processes[resource.Name].ProcessId,-8} {endpoint,-40} {health,-36} {endpoints.SpiffeId ?? "-"}");
        }

        Say($"endpoints: {Path.Combine(_options.StateDirectory, "endpoints.json")}; certificates: {_certificates.PkiDirectory}/services/{{name}}/");
    }

    private void Say(string line)
    {
        lock (_outputLock)
        {
            _options.Output.WriteLine($"[apphost] {line}");
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        foreach (var process in _processes.Values)
        {
            await process.DisposeAsync();
        }

        _stopping.Dispose();
    }
}
