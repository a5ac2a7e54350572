namespace MtlsAspire.Kubernetes.Tests.Infrastructure;

/// <summary>The manifests the README's publish command writes (default settings: self-signed CA), published once per test class.</summary>
public sealed class PublishedManifests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("k8s-publish-").FullName;

    public Manifests SelfSigned { get; private set; } = null!;

    public async Task InitializeAsync() => SelfSigned = await Manifests.PublishAsync(_directory);

    public Task DisposeAsync()
    {
        Directory.Delete(_directory, recursive: true);
        return Task.CompletedTask;
    }
}
