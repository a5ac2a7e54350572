using Microsoft.Extensions.DependencyInjection;

namespace MtlsAspire.EndToEnd.Tests.Infrastructure;

public static class ModelExtensions
{
    public static IResource GetModelResource(this IServiceProvider services, string name) =>
        services.GetRequiredService<DistributedApplicationModel>().Resources.Single(r => r.Name == name);

    /// <summary>The resources that reference <paramref name="callee"/> in the app model (<c>WithReference</c>).</summary>
    public static IReadOnlyList<string> ReferencesTo(this IServiceProvider services, string callee) =>
        [.. services.GetRequiredService<DistributedApplicationModel>().Resources
            .Where(r => r.Annotations.OfType<ResourceRelationshipAnnotation>().Any(a => a.Type == "Reference" && a.Resource.Name == callee))
            .Select(r => r.Name)];
}
