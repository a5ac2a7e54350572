using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace MtlsAspire.Lifecycle.Bench;

/// <summary>Keeps the load client's own warnings (a refused server certificate, a failed reload) with their time, for the report.</summary>
internal sealed class WarningLog : ILoggerProvider
{
    private readonly ConcurrentQueue<(long At, string Line)> _lines = new();

    public IReadOnlyCollection<(long At, string Line)> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(WarningLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                log._lines.Enqueue((Stopwatch.GetTimestamp(), $"{logLevel} {category}: {formatter(state, exception)}"));
            }
        }
    }
}
