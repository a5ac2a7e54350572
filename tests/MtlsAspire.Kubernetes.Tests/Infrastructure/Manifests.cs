using System.Diagnostics;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace MtlsAspire.Kubernetes.Tests.Infrastructure;

/// <summary>One object of the manifests, as JSON for easy navigation (every scalar a string, as YAML read untyped gives it).</summary>
public sealed record ManifestObject(string File, JsonObject Json)
{
    public string Kind => (string)Json["kind"]!;

    public string Name => (string)Json["metadata"]!["name"]!;

    public JsonNode Spec => Json["spec"]!;

    public override string ToString() => $"{Kind} {Name} ({File})";
}

/// <summary>The published manifests: every file, and every object of every file.</summary>
public sealed class Manifests
{
    private Manifests(string directory, IReadOnlyDictionary<string, string> files, IReadOnlyList<ManifestObject> objects)
    {
        Directory = directory;
        Files = files;
        Objects = objects;
    }

    public string Directory { get; }

    /// <summary>File name → content.</summary>
    public IReadOnlyDictionary<string, string> Files { get; }

    public IReadOnlyList<ManifestObject> Objects { get; }

    /// <summary>Every document of one file, as JSON.</summary>
    public IEnumerable<JsonObject> ParseAllFile(string name) => ParseAll(Files[name]);

    public IEnumerable<ManifestObject> OfKind(string kind) => Objects.Where(o => o.Kind == kind);

    /// <summary>The namespace a pod of <paramref name="owner"/> (a Deployment or Job) runs in.</summary>
    public string Namespace(string owner) =>
        (string)Objects.First(o => o.Kind is "Deployment" or "Job" && (o.Name == owner || owner.StartsWith(o.Name + "-", StringComparison.Ordinal))).Json["metadata"]!["namespace"]!;

    public ManifestObject Get(string kind, string name) =>
        Objects.SingleOrDefault(o => o.Kind == kind && o.Name == name) ?? throw new InvalidOperationException($"No {kind} {name} in the manifests.");

    /// <summary>
    /// Runs the README's publish command (<c>dotnet run --project MtlsAspire.AppHost -- --operation publish --step kubernetes
    /// --output-path DIR</c>, built already) with <paramref name="extraArgs"/>, and reads what it wrote.
    /// </summary>
    public static async Task<Manifests> PublishAsync(string directory, params string[] extraArgs) => (await PublishWithOutputAsync(directory, extraArgs)).Manifests;

    /// <summary>As <see cref="PublishAsync"/>, with what the command printed (the install commands).</summary>
    public static async Task<(Manifests Manifests, string Output)> PublishWithOutputAsync(string directory, params string[] extraArgs)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Repository.Root,
        };
        foreach (var arg in (string[])["run", "--no-build", "--project", Repository.AppHostProject, "--", "--operation", "publish", "--step", "kubernetes",
                     "--output-path", directory, .. extraArgs])
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment.Remove("MTLS_ROOT_PASSPHRASE");
        var result = await ToolProcess.RunAsync(start, TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, $"publish exited {result.ExitCode}:\n{result.Everything}");
        return (Read(directory), result.Everything);
    }

    public static Manifests Read(string directory)
    {
        var files = System.IO.Directory.EnumerateFiles(directory).Order(StringComparer.Ordinal)
            .ToDictionary(f => Path.GetFileName(f), File.ReadAllText, StringComparer.Ordinal);
        var objects = files.Where(f => f.Key.EndsWith(".yaml", StringComparison.Ordinal) && f.Key != "kustomization.yaml")
            .SelectMany(f => ParseAll(f.Value).Select(json => new ManifestObject(f.Key, json)))
            .ToList();
        return new Manifests(directory, files, objects);
    }

    /// <summary>Every document of a multi-document YAML text, as JSON.</summary>
    public static IEnumerable<JsonObject> ParseAll(string yaml)
    {
        var deserializer = new DeserializerBuilder().Build();
        var parser = new Parser(new StringReader(yaml));
        parser.Consume<StreamStart>();
        var documents = new List<JsonObject>();
        while (parser.Accept<DocumentStart>(out _))
        {
            if (deserializer.Deserialize<object?>(parser) is { } document)
            {
                documents.Add((JsonObject)ToJson(document)!);
            }
        }

        return documents;
    }

    private static JsonNode? ToJson(object? value) => value switch
    {
        null => null,
        IDictionary<object, object> map => new JsonObject(map.Select(p => KeyValuePair.Create((string)p.Key, ToJson(p.Value)))),
        IList<object> list => new JsonArray([.. list.Select(ToJson)]),
        _ => JsonValue.Create(value.ToString()),
    };
}
