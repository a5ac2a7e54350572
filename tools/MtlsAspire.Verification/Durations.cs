using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace MtlsAspire.Verification;

/// <summary>Durations as people write and read them: "24h", "90d", "1d12h", "15m", "30s".</summary>
public static partial class Durations
{
    // [0-9], not \d: \d also matches other scripts' digits, which int parsing then refuses.
    [GeneratedRegex(@"^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    private const long MaxSeconds = long.MaxValue / TimeSpan.TicksPerSecond;

    /// <summary>
    /// Parses "1d12h30m", throwing <see cref="FormatException"/> naming the value when it is not one, is zero or is
    /// longer than <see cref="TimeSpan.MaxValue"/>.
    /// </summary>
    public static TimeSpan Parse(string text)
    {
        var match = Pattern().Match(text.Trim());
        if (text.Length == 0 || !match.Success)
        {
            throw new FormatException($"'{text}' is not a duration: write e.g. 24h, 90d, 1d12h, 15m or 30s.");
        }

        // The pattern does not bound the digits: a part too long for a long, or a total past TimeSpan.MaxValue, is
        // refused as too long (in decimal, which holds long.MaxValue days in seconds).
        static decimal Part(Group g) =>
            !g.Success ? 0 : long.TryParse(g.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : long.MaxValue;
        var seconds = (Part(match.Groups[1]) * 86_400) + (Part(match.Groups[2]) * 3_600) + (Part(match.Groups[3]) * 60) + Part(match.Groups[4]);
        if (seconds > MaxSeconds)
        {
            throw new FormatException($"'{text}' is too long a duration: at most {MaxSeconds / 86_400:0}d.");
        }

        var value = TimeSpan.FromSeconds((long)seconds);
        return value > TimeSpan.Zero ? value : throw new FormatException($"'{text}' is not a positive duration.");
    }

    /// <summary>A short readable form with the two largest units: "3d 4h", "23h 59m", "12m 5s", "40s".</summary>
    public static string Describe(TimeSpan span)
    {
        return DescribeWhole(span);
    }

    /// <summary>How long something took: tenths of a second under a minute ("2.4s"), else as <see cref="Describe"/>.</summary>
    public static string Took(TimeSpan span) =>
        span < TimeSpan.FromMinutes(1) ? string.Create(CultureInfo.InvariantCulture, $"{span.TotalSeconds:0.0}s") : Describe(span);

    private static string DescribeWhole(TimeSpan span)
    {
        span = span.Duration();
        var text = new StringBuilder();
        void Add(int value, string unit)
        {
            if (text.Length > 0)
            {
                text.Append(' ');
            }

            text.Append(CultureInfo.InvariantCulture, $"{value}{unit}");
        }

        if (span.TotalDays >= 1)
        {
            Add((int)span.TotalDays, "d");
            Add(span.Hours, "h");
        }
        else if (span.TotalHours >= 1)
        {
            Add(span.Hours, "h");
            Add(span.Minutes, "m");
        }
        else if (span.TotalMinutes >= 1)
        {
            Add(span.Minutes, "m");
            Add(span.Seconds, "s");
        }
        else
        {
            Add(span.Seconds, "s");
        }

        return text.ToString();
    }
}
