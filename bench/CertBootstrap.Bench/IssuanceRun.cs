using System.Globalization;
using MtlsAspire.CertBootstrap.Authority;

namespace MtlsAspire.CertBootstrap.Bench;

/// <summary>
/// Issues leaves end to end from one thread per authority: one at a time with <see cref="CertificateAuthority.Issue"/>,
/// or with a batch size, in batches with <see cref="CertificateAuthority.IssueMany"/>.
/// </summary>
internal static class IssuanceRun
{
    public static string ServiceName(int index) => string.Create(CultureInfo.InvariantCulture, $"svc-{index + 1:D4}");

    /// <summary>
    /// Issues <paramref name="count"/> leaves. Worker w of P issues numbers w, w+P, w+2P, … and issuance k goes to
    /// service k mod S, so when S is a multiple of P no two workers ever write the same service directory. With
    /// <paramref name="batch"/>, each worker takes its numbers <paramref name="batch"/> at a time (distinct services
    /// when batch × P ≤ S).
    /// </summary>
    public static Measurement Run(string name, IReadOnlyList<CertificateAuthority> authorities, int count, int services, int? batch)
    {
        var workers = authorities.Count;
        var requests = Enumerable.Range(0, services).Select(s => new LeafRequest(ServiceName(s))).ToArray();
        return Measurement.Run(name, count, () =>
        {
            if (workers == 1)
            {
                Issue(authorities[0], 0, 1, count, requests, batch);
                return;
            }

            var failures = new Exception?[workers];
            var threads = Enumerable.Range(0, workers).Select(w => new Thread(() =>
            {
                try
                {
                    Issue(authorities[w], w, workers, count, requests, batch);
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

    private static void Issue(CertificateAuthority authority, int worker, int workers, int count, LeafRequest[] requests, int? batch)
    {
        var mine = Enumerable.Range(0, count).Where(k => k % workers == worker).Select(k => requests[k % requests.Length]);
        if (batch is not { } size)
        {
            foreach (var request in mine)
            {
                authority.Issue(request);
            }

            return;
        }

        foreach (var chunk in mine.Chunk(size))
        {
            authority.IssueMany(chunk);
        }
    }
}
