using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.CertBootstrap.Ledger;

namespace MtlsAspire.CertBootstrap.Bench;

/// <summary>
/// A fleet on a virtual clock: every identity holds a 1 h leaf and renews it at 2/3 of its lifetime ± 10 % of the
/// lifetime (uniform jitter). The clock moves in 10 s ticks; at each tick the CA issues, for real and with
/// <see cref="CertificateAuthority.IssueMany"/>, every renewal that fell due, and re-signs and republishes its CRL to
/// every directory when half its validity has passed, as it does in service. The need is the renewals due per second of
/// virtual time; the capacity is what the CA issued per second of real time.
/// </summary>
internal static class FleetSimulation
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(10);
    private const double RenewAt = 2.0 / 3;
    private const double Jitter = 0.10;

    public static void Run(BenchOptions options, string directory, PassphraseSource passphrase)
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var start = clock.GetUtcNow();
        var (authority, _) = CertificateAuthority.Initialize(directory, new PkiSettings { KeyType = options.KeyType, LeafLifetime = Lifetime }, passphrase, clock);
        var identities = options.FleetIdentities;
        var requests = Enumerable.Range(0, identities)
            .Select(i => new LeafRequest(string.Create(CultureInfo.InvariantCulture, $"fleet-{i + 1:D5}")) { Lifetime = Lifetime })
            .ToArray();
        var random = new Random(20261123);
        TimeSpan UntilRenewal() => Lifetime * (RenewAt + (Jitter * ((2 * random.NextDouble()) - 1)));

        Program.WriteLine($"== fleet simulation: {identities} identities, {Lifetime.TotalHours:F0} h leaves, renewal at 2/3 of the lifetime ± {Jitter:P0} of it, " +
            $"{options.FleetHours} simulated hours in {Tick.TotalSeconds:F0} s ticks ==");
        var rollout = Measurement.Run("rollout: every identity at t=0", identities, () => authority.IssueMany(requests));
        Program.WriteLine(Measurement.Header);
        Program.WriteLine(rollout.ToString());

        var due = new PriorityQueue<int, DateTimeOffset>();
        for (var i = 0; i < identities; i++)
        {
            due.Enqueue(i, start + UntilRenewal());
        }

        var end = start + TimeSpan.FromHours(options.FleetHours);
        var duePerSecond = new long[(int)(end - start).TotalSeconds + 1];
        var (renewed, batches, largestBatch, refreshes, renewedInPlainBatches) = (0, 0, 0, 0, 0);
        var (renewalTime, refreshTime) = (TimeSpan.Zero, TimeSpan.Zero);
        for (var now = start + Tick; now <= end; now += Tick)
        {
            clock.SetUtcNow(now);
            var batch = new List<LeafRequest>();
            while (due.TryPeek(out var identity, out var at) && at <= now)
            {
                due.Dequeue();
                duePerSecond[(int)(at - start).TotalSeconds]++;
                batch.Add(requests[identity]);
                due.Enqueue(identity, now + UntilRenewal());
            }

            if (batch.Count == 0)
            {
                continue;
            }

            var version = authority.Ledger.CaVersion();
            var stopwatch = Stopwatch.StartNew();
            authority.IssueMany(batch);
            stopwatch.Stop();
            (renewed, batches, largestBatch) = (renewed + batch.Count, batches + 1, Math.Max(largestBatch, batch.Count));
            if (authority.Ledger.CaVersion() != version)
            {
                // This batch first re-signed the CRL and republished every directory (leaf issuance alone changes no CA version).
                refreshes++;
                refreshTime += stopwatch.Elapsed;
            }
            else
            {
                renewalTime += stopwatch.Elapsed;
                renewedInPlainBatches += batch.Count;
            }
        }

        var recorded = authority.Ledger.All().Count(e => e.Kind == CertificateKind.Leaf);
        if (recorded != identities + renewed || authority.ServiceLeaves().Count != identities)
        {
            throw new InvalidOperationException($"The fleet ledger holds {recorded} leaves, expected {identities + renewed}, {identities} of them active.");
        }

        var peakSecond = duePerSecond.Max();
        var peakMinute = Enumerable.Range(0, Math.Max(1, duePerSecond.Length - 59)).Max(s => duePerSecond.Skip(s).Take(60).Sum()) / 60.0;
        var mean = renewed / (end - start).TotalSeconds;
        var plainBatches = batches - refreshes;
        var capacity = renewedInPlainBatches / renewalTime.TotalSeconds;
        Program.WriteLine($"renewals issued          {renewed} in {batches} batches (largest {largestBatch}), ledger checked: {recorded} leaves, {identities} active");
        Program.WriteLine($"need: renewals due/s     mean {mean:F1}, peak 1-min average {peakMinute:F1}, peak in any 1 s {peakSecond}");
        Program.WriteLine($"capacity: rollout        {rollout.PerSecond:F0} leaves/s (one IssueMany of the whole fleet)");
        Program.WriteLine($"capacity: renewal ticks  {capacity:F0} leaves/s over {plainBatches} tick batches of {renewedInPlainBatches / Math.Max(1, plainBatches)} on average ({renewalTime.TotalSeconds:F1} s of real time)");
        Program.WriteLine($"CRL republication        {refreshes} times, {refreshTime.TotalSeconds / Math.Max(1, refreshes):F1} s each " +
            $"(re-sign + a new generation in each of the {identities} directories, plus that tick's renewals)");
        Program.WriteLine($"headroom                 {capacity / peakSecond:F0}x the peak second, {capacity / peakMinute:F0}x the peak minute " +
            $"(renewal-tick capacity / need); at rollout speed the whole fleet re-keys in {identities / rollout.PerSecond:F1} s");
    }
}
