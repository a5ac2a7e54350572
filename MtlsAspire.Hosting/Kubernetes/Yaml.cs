using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace MtlsAspire.Hosting.Kubernetes;

/// <summary>
/// A Kubernetes object as an ordered map (<see cref="Node"/>), and a small YAML writer for it: block style, keys in the
/// order they were added, every string that YAML 1.1 could read as something else (<c>true</c>, <c>0.25</c>,
/// <c>01:00:00</c>, <c>8443</c>) double-quoted, multi-line text (PEM, revocation lists) as literal blocks. Same objects,
/// same bytes.
/// </summary>
internal static partial class Yaml
{
    /// <summary>An ordered map of a Kubernetes object; values are strings, numbers, booleans, nodes or lists of them.</summary>
    public sealed class Node : List<KeyValuePair<string, object?>>
    {
        public Node Add(string key, object? value)
        {
            Add(new KeyValuePair<string, object?>(key, value));
            return this;
        }
    }

    /// <summary>A map from key/value pairs; a null value leaves its key out.</summary>
    public static Node Map(params (string Key, object? Value)[] pairs)
    {
        var node = new Node();
        foreach (var (key, value) in pairs)
        {
            if (value is not null)
            {
                node.Add(key, value);
            }
        }

        return node;
    }

    /// <summary>A list.</summary>
    public static List<object> List(params object[] items) => [.. items];

    /// <summary>Several objects as one multi-document YAML file.</summary>
    public static string Documents(IEnumerable<Node> objects, string? header = null)
    {
        var text = new StringBuilder();
        if (header is not null)
        {
            foreach (var line in header.Split('\n'))
            {
                text.Append(line.Length == 0 ? "#" : "# ").Append(line).Append('\n');
            }
        }

        var first = true;
        foreach (var node in objects)
        {
            if (!first)
            {
                text.Append("---\n");
            }

            first = false;
            WriteMap(text, node, 0);
        }

        return text.ToString();
    }

    private static void WriteMap(StringBuilder text, Node node, int indent)
    {
        foreach (var (key, value) in node)
        {
            text.Append(' ', indent).Append(Scalar(key));
            WriteValue(text, value, indent);
        }
    }

    // After "key" (or "-"): the value on the same line, or a nested block.
    private static void WriteValue(StringBuilder text, object? value, int indent)
    {
        switch (value)
        {
            case Node { Count: 0 }:
                text.Append(": {}\n");
                break;
            case Node map:
                text.Append(":\n");
                WriteMap(text, map, indent + 2);
                break;
            case System.Collections.IList { Count: 0 }:
                text.Append(": []\n");
                break;
            case System.Collections.IList list:
                text.Append(":\n");
                WriteList(text, list, indent);
                break;
            case string s when s.Contains('\n', StringComparison.Ordinal):
                text.Append(": ").Append(s.EndsWith('\n') ? "|" : "|-").Append('\n');
                foreach (var line in s.TrimEnd('\n').Split('\n'))
                {
                    if (line.Length > 0)
                    {
                        text.Append(' ', indent + 2).Append(line);
                    }

                    text.Append('\n');
                }

                break;
            default:
                text.Append(": ").Append(Scalar(value)).Append('\n');
                break;
        }
    }

    private static void WriteList(StringBuilder text, System.Collections.IList list, int indent)
    {
        foreach (var item in list)
        {
            if (item is Node { Count: > 0 } map)
            {
                // "- first: value" then the other keys aligned under it.
                var nested = new StringBuilder();
                WriteMap(nested, map, indent + 2);
                text.Append(' ', indent).Append("- ").Append(nested.ToString(indent + 2, nested.Length - indent - 2));
            }
            else
            {
                text.Append(' ', indent).Append("- ").Append(Scalar(item)).Append('\n');
            }
        }
    }

    private static string Scalar(object? value) => value switch
    {
        null => "null",
        bool b => b ? "true" : "false",
        int or long => Convert.ToString(value, CultureInfo.InvariantCulture)!,
        string s when PlainSafe().IsMatch(s) && !s_reserved.Contains(s) => s,
        string s => JsonSerializer.Serialize(s, s_json), // a JSON string is a valid YAML double-quoted scalar
        _ => throw new ArgumentException($"Cannot write a {value.GetType().Name} as YAML."),
    };

    private static readonly JsonSerializerOptions s_json = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // Words YAML 1.1 (go-yaml v2, what kubectl's older parsers use) reads as booleans or null.
    private static readonly HashSet<string> s_reserved = new(StringComparer.OrdinalIgnoreCase)
    {
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    };

    // Starts with a letter or '/', then letters, digits and . _ / - only: never a number, time, date or indicator.
    [GeneratedRegex(@"^[A-Za-z/][A-Za-z0-9._/-]*\z")]
    private static partial Regex PlainSafe();
}
