namespace MtlsAspire.ServiceDefaults.Telemetry;

/// <summary>Text a peer chose (a subject, a serial, a path), bounded before it goes into a log line or a reason.</summary>
internal static class PeerText
{
    /// <summary><paramref name="text"/> as it is, or its first <paramref name="length"/> characters and "…".</summary>
    public static string Cut(string text, int length) => text.Length > length ? string.Concat(text.AsSpan(0, length), "…") : text;
}
