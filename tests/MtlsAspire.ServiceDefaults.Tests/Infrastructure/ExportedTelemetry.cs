using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Trace;

namespace MtlsAspire.ServiceDefaults.Tests.Infrastructure;

/// <summary>
/// What a host's OpenTelemetry pipeline exports (an exporter beside OTLP's, after the SDK's sampling and filtering):
/// the spans it records and the log records that pass the logging filters.
/// </summary>
public sealed class ExportedTelemetry
{
    private readonly ConcurrentDictionary<ActivitySpanId, Activity> _spans = new();
    private readonly ConcurrentQueue<ExportedLog> _logs = new();

    /// <summary>Every span exported by any host this was added to (an activity listener sees the whole process: filter).</summary>
    public IReadOnlyList<Activity> Spans => [.. _spans.Values];

    public IReadOnlyList<ExportedLog> Logs => [.. _logs];

    /// <summary>Adds the exporters to <paramref name="builder"/>'s tracer and logger providers.</summary>
    public void AddTo(IHostApplicationBuilder builder)
    {
        builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddProcessor(new SimpleActivityExportProcessor(new SpanExporter(this))));
        builder.Services.ConfigureOpenTelemetryLoggerProvider(logging => logging.AddProcessor(new SimpleLogRecordExportProcessor(new LogExporter(this))));
    }

    public sealed record ExportedLog(string Category, LogLevel Level, string? Message);

    private sealed class SpanExporter(ExportedTelemetry into) : BaseExporter<Activity>
    {
        public override ExportResult Export(in Batch<Activity> batch)
        {
            foreach (var span in batch)
            {
                into._spans.TryAdd(span.SpanId, span);
            }

            return ExportResult.Success;
        }
    }

    private sealed class LogExporter(ExportedTelemetry into) : BaseExporter<LogRecord>
    {
        public override ExportResult Export(in Batch<LogRecord> batch)
        {
            foreach (var record in batch)
            {
                // Records are pooled and reused after export: copy what the tests read.
                into._logs.Enqueue(new ExportedLog(record.CategoryName ?? string.Empty, record.LogLevel, record.FormattedMessage));
            }

            return ExportResult.Success;
        }
    }
}
