using System.Net.Http.Json;
using System.Text.Json;

namespace MtlsAspire.Dashboard.Tests;

/// <summary>A structured log record as the dashboard holds it.</summary>
/// <param name="Resource">The service that wrote it (OTLP <c>service.name</c>).</param>
/// <param name="Severity">OTLP severity text (Information, Warning, …).</param>
/// <param name="Message">The formatted message.</param>
/// <param name="Attributes">The record's attributes, values as strings.</param>
public sealed record LogRecord(string Resource, string Severity, string Message, IReadOnlyDictionary<string, string> Attributes)
{
    public string? this[string attribute] => Attributes.GetValueOrDefault(attribute);
}

/// <summary>A span as the dashboard holds it.</summary>
public sealed record SpanRecord(string Resource, string Name, string TraceId, string SpanId, string? ParentSpanId, int Kind, IReadOnlyDictionary<string, string> Attributes);

/// <summary>
/// The dashboard's telemetry HTTP API: the browser token is exchanged for the API key
/// (<c>POST /api/telemetry/validateToken</c>), then <c>GET /api/telemetry/{resources,logs,spans}</c> with
/// <c>x-api-key</c> answer OTLP JSON.
/// </summary>
public sealed class TelemetryApi : IDisposable
{
    private readonly HttpClient _http;

    private TelemetryApi(HttpClient http) => _http = http;

    public static async Task<TelemetryApi> ConnectAsync(Uri dashboard, string browserToken, CancellationToken cancellationToken = default)
    {
        var http = new HttpClient { BaseAddress = dashboard, Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            using var response = await http.PostAsJsonAsync("api/telemetry/validateToken", new { token = browserToken }, cancellationToken);
            response.EnsureSuccessStatusCode();
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
            var apiKey = body.RootElement.GetProperty("apiKey").GetString();
            Assert.False(string.IsNullOrEmpty(apiKey), "validateToken answered without an API key");
            http.DefaultRequestHeaders.Add("x-api-key", apiKey);
            return new TelemetryApi(http);
        }
        catch
        {
            http.Dispose();
            throw;
        }
    }

    /// <summary>The raw answer to a GET, for tests that check the API's own behaviour.</summary>
    public Task<HttpResponseMessage> GetAsync(string relative, CancellationToken cancellationToken = default) =>
        _http.GetAsync(new Uri(relative, UriKind.Relative), cancellationToken);

    /// <summary>The names of the resources the dashboard has telemetry from.</summary>
    public async Task<IReadOnlyList<string>> ResourcesAsync(CancellationToken cancellationToken = default)
    {
        using var document = await GetJsonAsync("api/telemetry/resources", cancellationToken);
        return [.. document.RootElement.EnumerateArray().Select(r => r.GetProperty("name").GetString()!)];
    }

    /// <summary>The newest logs of <paramref name="resource"/> at or above <paramref name="severity"/>.</summary>
    public async Task<IReadOnlyList<LogRecord>> LogsAsync(string resource, string severity = "information", int limit = 1000, CancellationToken cancellationToken = default)
    {
        using var document = await GetJsonAsync($"api/telemetry/logs?resource={Uri.EscapeDataString(resource)}&severity={severity}&limit={limit}", cancellationToken);
        var logs = new List<LogRecord>();
        foreach (var resourceLogs in Array(Data(document), "resourceLogs"))
        {
            var service = ServiceName(resourceLogs);
            foreach (var record in Array(resourceLogs, "scopeLogs").SelectMany(scope => Array(scope, "logRecords")))
            {
                logs.Add(new LogRecord(service,
                    record.TryGetProperty("severityText", out var severityText) ? severityText.GetString() ?? "" : "",
                    record.TryGetProperty("body", out var body) ? Value(body) : "",
                    Attributes(record)));
            }
        }

        return logs;
    }

    /// <summary>The newest spans, of every resource or of <paramref name="resource"/>.</summary>
    public async Task<IReadOnlyList<SpanRecord>> SpansAsync(string? resource = null, string? traceId = null, int limit = 2000, CancellationToken cancellationToken = default)
    {
        var query = $"api/telemetry/spans?limit={limit}" + (resource is null ? "" : $"&resource={Uri.EscapeDataString(resource)}")
            + (traceId is null ? "" : $"&traceId={traceId}");
        using var document = await GetJsonAsync(query, cancellationToken);
        var spans = new List<SpanRecord>();
        foreach (var resourceSpans in Array(Data(document), "resourceSpans"))
        {
            var service = ServiceName(resourceSpans);
            foreach (var span in Array(resourceSpans, "scopeSpans").SelectMany(scope => Array(scope, "spans")))
            {
                spans.Add(new SpanRecord(service,
                    span.GetProperty("name").GetString()!,
                    span.GetProperty("traceId").GetString()!,
                    span.GetProperty("spanId").GetString()!,
                    span.TryGetProperty("parentSpanId", out var parent) && parent.GetString() is { Length: > 0 } p ? p : null,
                    span.TryGetProperty("kind", out var kind) && kind.ValueKind == JsonValueKind.Number ? kind.GetInt32() : 0,
                    Attributes(span)));
            }
        }

        return spans;
    }

    private async Task<JsonDocument> GetJsonAsync(string relative, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(new Uri(relative, UriKind.Relative), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode == System.Net.HttpStatusCode.NotFound && relative.Contains("resource=", StringComparison.Ordinal))
        {
            // A name matches no resource, or several (a restarted resource has a second instance): say which.
            using var resources = await _http.GetAsync(new Uri("api/telemetry/resources", UriKind.Relative), cancellationToken);
            text += " resources: " + await resources.Content.ReadAsStringAsync(cancellationToken);
        }

        Assert.True(response.IsSuccessStatusCode, $"GET {relative}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text);
    }

    private static JsonElement Data(JsonDocument document) =>
        document.RootElement.TryGetProperty("data", out var data) ? data : default;

    private static JsonElement[] Array(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array
            ? [.. array.EnumerateArray()]
            : [];

    private static string ServiceName(JsonElement owner) =>
        owner.TryGetProperty("resource", out var resource) && Attributes(resource).TryGetValue("service.name", out var name) ? name : "";

    private static Dictionary<string, string> Attributes(JsonElement owner)
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var attribute in Array(owner, "attributes"))
        {
            attributes[attribute.GetProperty("key").GetString()!] = attribute.TryGetProperty("value", out var value) ? Value(value) : "";
        }

        return attributes;
    }

    /// <summary>An OTLP AnyValue as text.</summary>
    private static string Value(JsonElement value)
    {
        foreach (var property in value.EnumerateObject())
        {
            return property.Value.ValueKind switch
            {
                JsonValueKind.String => property.Value.GetString()!,
                JsonValueKind.Null => "",
                _ => property.Value.GetRawText(),
            };
        }

        return "";
    }

    public void Dispose() => _http.Dispose();
}
