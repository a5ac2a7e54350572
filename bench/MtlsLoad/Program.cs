using System.Globalization;
using System.Net;
using System.Net.Sockets;
using MtlsAspire.MtlsLoad;

if (args is ["free-port"])
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    Console.WriteLine(((IPEndPoint)listener.LocalEndpoint).Port);
    return 0;
}

if (args is ["strangers", .. var strangerArgs])
{
    return await Strangers.RunAsync(strangerArgs);
}

LoadOptions options;
try
{
    options = LoadOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"MtlsLoad: {e.Message}");
    Console.Error.WriteLine(LoadOptions.Usage);
    return 2;
}

if (options.FloodOnly)
{
    var flooded = await new LoadRun(options).FloodOnlyAsync();
    Console.WriteLine($"{options.Label}: {flooded.Describe()}");
    Console.WriteLine($"result label={options.Label} {flooded.ToResultFields()}");
    // A bad handshake that got an HTTP answer is a hole in the server.
    return flooded.Accepted == 0 ? 0 : 1;
}

var result = await new LoadRun(options).RunAsync();
var inv = CultureInfo.InvariantCulture;
Console.WriteLine(string.Create(inv,
    $"{result.Label}: {options.Url} {(result.Mode == ConnectionMode.New ? "new connection per request" : "keep-alive")}, {result.Connections} connections, {result.Elapsed.TotalSeconds:F1} s"));
Console.WriteLine(string.Create(inv,
    $"  {result.Requests} requests ({result.PerSecond:F0}/s), {result.Errors} errors; latency p50 {result.Percentile(50):F0} µs, p99 {result.Percentile(99):F0} µs, p99.9 {result.Percentile(99.9):F0} µs"));
Console.WriteLine(string.Create(inv,
    $"  CPU per request: under test {result.ServerCpuMicroseconds:F1} µs, upstream {result.UpstreamCpuMicroseconds:F1} µs, load generator {result.ClientCpuMicroseconds:F1} µs; machine {result.MachineBusy / result.Elapsed:F2} cores busy; {result.Handshakes} TLS handshakes"));
var allocated = result.AllocatedBytes is null ? "" : string.Create(inv, $", {result.AllocatedBytesPerRequest:F0} bytes allocated");
Console.WriteLine(string.Create(inv,
    $"  per request, under test: {result.ContextSwitchesPerRequest:F2} context switches ({result.ContextSwitches.Voluntary} voluntary, {result.ContextSwitches.Involuntary} involuntary in all){allocated}"));
if (result.Flood is { } flood)
{
    Console.WriteLine($"  {flood.Describe()}");
}

if (result.FirstError is not null)
{
    Console.WriteLine($"  first error: {result.FirstError}");
}

Console.WriteLine(result.ToResultLine());
// Errors during the measured seconds, or nothing measured, fail the run: a script must not quote such a figure.
// A bad handshake that got an HTTP answer is a hole in the server, whatever the load did.
return result.Errors == 0 && result.Requests > 0 && (result.Flood?.Accepted ?? 0) == 0 ? 0 : 1;
