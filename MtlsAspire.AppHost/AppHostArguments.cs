namespace MtlsAspire.AppHost;

/// <summary>
/// The AppHost's own options, as configuration keys of the <c>MtlsAspire</c> section: <c>--state-dir DIR</c>
/// (<c>MtlsAspire:StateDirectory</c>), <c>--leaf-lifetime 5m</c> (<c>MtlsAspire:LeafLifetime</c>) and <c>--no-workers</c>
/// (<c>MtlsAspire:Workers=false</c>). Everything else goes to Aspire unchanged.
/// </summary>
internal static class AppHostArguments
{
    public static string[] Translate(string[] args) => [.. args.Select(arg => arg switch
    {
        "--state-dir" => "--MtlsAspire:StateDirectory",
        "--leaf-lifetime" => "--MtlsAspire:LeafLifetime",
        "--no-workers" => "--MtlsAspire:Workers=false",
        _ => arg,
    })];
}
