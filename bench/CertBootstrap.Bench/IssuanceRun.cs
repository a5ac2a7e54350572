using System.Globalization;
using MtlsAspire.CertBootstrap.Authority;

namespace MtlsAspire.CertBootstrap.Bench;

/// <summary>Issues leaves end to end with <see cref="CertificateAuthority.Issue"/> from one thread per authority.</summary>
internal static class IssuanceRun
{
    public static string ServiceName(int index) => string.Create(CultureInfo.InvariantCulture, $"svc-{index + 1:D4}");

    /// <summary>
    /// Issues <paramref name="count"/> leaves. Worker w of P issues numbers w, w+P, w+2P, … and issuance k goes to
    /// service k mod S, so when S is a multiple of P no two workers ever write the same service directory.
    /// </summary>
    public static Measurement Run(string name, IReadOnlyList<CertificateAuthority> authorities, int count, int services)
    {
        var workers = authorities.Count;
        var requests = Enumerable.Range(0, services).Select(s => new LeafRequest(ServiceName(s))).ToArray();
        return Measurement.Run(name, count, () =>
        {
            if (workers == 1)
            {
                Issue(authorities[0], 0, 1, count, requests);
                return;
            }

            var failures = new Exception?[workers];
            var threads = Enumerable.Range(0, workers).Select(w => new Thread(() =>
            {
                try
                {
                    Issue(authorities[w], w, workers, count, requests);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    failures[w] = e;
                }
            })
            { Name = $"issuer-{w}", IsBackground = true }).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            if (failures.FirstOrDefault(f => f is not null) is { } failure)
            {
                throw new InvalidOperationException($"An issuing worker failed: {failure.Message}", failure);
            }
        });
    }

    private static void Issue(CertificateAuthority authority, int worker, int workers, int count, LeafRequest[] requests)
    {
        for (var k = worker; k < count; k += workers)
        {
            authority.Issue(requests[k % requests.Length]);
        }
    }
}
