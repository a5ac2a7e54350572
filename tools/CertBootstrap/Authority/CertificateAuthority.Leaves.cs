using System.Net;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.CertBootstrap.Certificates;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.Verification;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Identity;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Authority;

public sealed partial class CertificateAuthority
{
    /// <summary>
    /// The most leaves recorded in one ledger transaction and published in one group commit: each waits for the commit
    /// holding its directory's lock file open, which bounds the open files.
    /// </summary>
    internal const int BatchLimit = 256;

    /// <summary>A request checked and resolved to what goes into the certificate.</summary>
    private sealed record LeafPlan(LeafRequest Request, SpiffeId SpiffeId, TimeSpan Lifetime, KeyType KeyType, string OutputDirectory,
        IReadOnlyList<string> DnsNames, IReadOnlyList<IPAddress> IPAddresses);

    /// <summary>What every leaf takes from its issuer, read once per batch rather than by each signing thread.</summary>
    private sealed record IssuerFacts(X500DistinguishedName Name, DateTime NotAfter, X509AuthorityKeyIdentifierExtension KeyIdentifier, string Pem);

    /// <summary>A leaf signed in memory, not yet recorded or published.</summary>
    private sealed record SignedLeaf(LeafPlan Plan, X509Certificate2 Certificate, string ChainPem, string KeyPem, DateTimeOffset NotAfter, bool Clamped);

    /// <summary>
    /// Issues a leaf for <paramref name="request"/>: a fresh key pair, the SPIFFE ID as the only URI SAN, serverAuth and
    /// clientAuth, signed by the active intermediate, recorded in the ledger and published atomically (the service's
    /// previous leaf is superseded).
    /// </summary>
    public IssuedLeaf Issue(LeafRequest request) => IssueMany([request])[0];

    /// <summary>
    /// Issues a leaf for each of <paramref name="requests"/> (in order) as <see cref="Issue"/> does, as a batch: every
    /// request is checked before anything is signed; keys are generated and leaves signed on every core; up to
    /// <see cref="BatchLimit"/> leaves are recorded in one ledger transaction and only then published, a batch of more
    /// than one with one flush of the file system before and one after the <c>..data</c> swaps (see
    /// <see cref="CredentialDirectory.StagedGeneration.CommitAll"/>). When the batch fails before its transaction
    /// commits, nothing of it is recorded and no directory changes. A batch publishes each directory at most once.
    /// </summary>
    public IReadOnlyList<IssuedLeaf> IssueMany(IReadOnlyList<LeafRequest> requests)
    {
        var plans = requests.Select(Plan).ToList();
        if (plans.GroupBy(p => p.OutputDirectory, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } repeated)
        {
            throw new PkiException($"{repeated.Count()} of the requests publish to {repeated.Key}: a batch publishes each directory once.");
        }

        var issued = new List<IssuedLeaf>(plans.Count);
        foreach (var batch in plans.Chunk(BatchLimit))
        {
            issued.AddRange(IssueBatch(batch));
        }

        return issued;
    }

    /// <summary>Re-issues the service's leaf with a new key, keeping its names, lifetime, key type and directory.</summary>
    public IssuedLeaf Renew(string service) => Issue(RenewalOf(service));

    /// <summary>Renews every service's active leaf (under the active intermediate) as one batch; returns what was issued.</summary>
    public IReadOnlyList<IssuedLeaf> RenewAll() => IssueMany([.. ServiceLeaves().Select(leaf => RenewalOf(leaf.Service!))]);

    private LeafRequest RenewalOf(string service)
    {
        var current = Ledger.ActiveLeaf(service)
            ?? Ledger.All().LastOrDefault(e => e.Kind == CertificateKind.Leaf && e.Service == service)
            ?? throw new PkiException($"No leaf was ever issued for service '{service}': use 'issue --service {service}' first.");

        return new LeafRequest(service)
        {
            DnsNames = current.DnsNames,
            IPAddresses = current.IPAddresses.Select(IPAddress.Parse).ToList(),
            Lifetime = current.Lifetime,
            KeyType = KeyTypeNames.Parse(current.KeyType),
            OutputDirectory = current.OutputDirectory,
        };
    }

    private LeafPlan Plan(LeafRequest request)
    {
        if (!NameRules.IsValid(request.Service))
        {
            throw new PkiException($"Invalid service name '{request.Service}': use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit.");
        }

        foreach (var name in request.DnsNames)
        {
            if (Uri.CheckHostName(name) != UriHostNameType.Dns)
            {
                throw new PkiException($"Invalid DNS name '{name}' for service {request.Service}.");
            }
        }

        var lifetime = request.Lifetime ?? Settings.LeafLifetime;
        if (lifetime < TimeSpan.FromMinutes(1))
        {
            throw new PkiException($"Lifetime {Durations.Describe(lifetime)} is too short: a leaf lives at least a minute.");
        }

        var (dnsNames, ipAddresses) = request.DnsNames.Count == 0 && request.IPAddresses.Count == 0
            ? ((IReadOnlyList<string>)["localhost"], (IReadOnlyList<IPAddress>)[IPAddress.Loopback])
            : (request.DnsNames, request.IPAddresses);
        return new LeafPlan(request, SpiffeId.ForWorkload(Settings.TrustDomain, Settings.Environment, request.Service), lifetime,
            request.KeyType ?? Settings.KeyType, Path.GetFullPath(request.OutputDirectory ?? Layout.ServiceDirectory(request.Service)), dnsNames, ipAddresses);
    }

    private List<IssuedLeaf> IssueBatch(IReadOnlyList<LeafPlan> plans)
    {
        var now = _time.GetUtcNow();
        var state = CurrentIssuingState();
        if (now >= state.CrlRefreshDue)
        {
            // Half the CRL's validity has passed: re-sign it and give every service the fresh one, not only these.
            PublishCrl(state.Intermediate, Settings.IntermediateCrlValidity);
            RefreshServiceDirectories();
            state = CurrentIssuingState();
        }

        var intermediate = state.Intermediate;
        if (intermediate.Certificate.NotAfter <= now.UtcDateTime)
        {
            throw new PkiException($"The intermediate CA {intermediate.Entry.Subject} expired on {intermediate.Entry.NotAfter:u}: run rotate-intermediate.");
        }

        for (var attempt = 1; ; attempt++)
        {
            var signed = Sign(plans, intermediate, now);
            var staged = new List<CredentialDirectory.StagedGeneration>(signed.Length);
            try
            {
                while (true)
                {
                    // Directories are locked in ordinal order, as RefreshServiceDirectories takes them (the ledger's
                    // ORDER BY output_directory): two batches in two processes never wait on each other's locks.
                    foreach (var leaf in signed.OrderBy(l => l.Plan.OutputDirectory, StringComparer.Ordinal))
                    {
                        var files = new CredentialFiles(leaf.ChainPem, leaf.KeyPem, state.BundlePem, state.CrlPem);
                        var directory = new CredentialDirectory(leaf.Plan.OutputDirectory);
                        staged.Add(WithIo(directory.Path, () => directory.Stage(files, now, _content)));
                    }

                    if (Ledger.CaVersion() == state.Version)
                    {
                        break;
                    }

                    // A revocation, rotation or CRL landed since the CA state was read: publish with the newer bundle and CRLs.
                    DisposeAll(staged);
                    state = CurrentIssuingState();
                }

                var entries = signed.Select(leaf => LeafEntry(leaf, intermediate, now)).ToList();
                if (Ledger.TryRecordIssued(entries))
                {
                    var failures = CredentialDirectory.StagedGeneration.CommitAll(staged);
                    if (failures.Count > 0)
                    {
                        throw new PkiException($"Recorded {entries.Count} leaves, but could not publish to {string.Join("; ", failures)}. Renew those services.");
                    }

                    return [.. signed.Select((leaf, i) => new IssuedLeaf(entries[i].Entry, leaf.Plan.SpiffeId, leaf.Plan.OutputDirectory, leaf.Clamped))];
                }
            }
            finally
            {
                DisposeAll(staged);
                foreach (var leaf in signed)
                {
                    leaf.Certificate.Dispose();
                }
            }

            if (attempt == MaxSerialAttempts)
            {
                throw new PkiException("Could not record the leaves: a serial was taken (ledger conflict).");
            }
        }
    }

    private static void DisposeAll(List<CredentialDirectory.StagedGeneration> staged)
    {
        foreach (var generation in staged)
        {
            generation.Dispose();
        }

        staged.Clear();
    }

    /// <summary>Generates the keys and signs the leaves on every core, each thread with its own handle on the intermediate's key.</summary>
    private SignedLeaf[] Sign(IReadOnlyList<LeafPlan> plans, LoadedCa intermediate, DateTimeOffset now)
    {
        var signed = new SignedLeaf[plans.Count];
        var issuer = intermediate.Certificate;
        var facts = new IssuerFacts(issuer.SubjectName, issuer.NotAfter, X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false),
            issuer.ExportCertificatePem());
        try
        {
            Parallel.For(0, plans.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
                () => CreateGenerator(issuer),
                (i, _, generator) =>
                {
                    signed[i] = SignLeaf(plans[i], facts, generator, now);
                    return generator;
                },
                _ => { });
        }
        catch (AggregateException e)
        {
            foreach (var leaf in signed.OfType<SignedLeaf>())
            {
                leaf.Certificate.Dispose();
            }

            ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }

        return signed;
    }

    private SignedLeaf SignLeaf(LeafPlan plan, IssuerFacts issuer, X509SignatureGenerator generator, DateTimeOffset now)
    {
        using var key = KeyPair.Generate(plan.KeyType);
        var subject = new X500DistinguishedNameBuilder();
        // The builder encodes in reverse order of addition: this encodes O, OU, CN (most general first), as is customary.
        subject.AddCommonName(plan.Request.Service);
        subject.AddOrganizationalUnitName(Settings.Environment);
        subject.AddOrganizationName("MtlsAspire");
        var request = key.CreateRequest(subject.Build());
        request.CertificateExtensions.Add(X509BasicConstraintsExtension.CreateForEndEntity(critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        var usages = plan.Request.ExtendedKeyUsages ?? [CertificateFacts.ServerAuthOid, CertificateFacts.ClientAuthOid];
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection().AddAll(usages), false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(plan.SpiffeId.ToUri());
        foreach (var name in plan.DnsNames)
        {
            san.AddDnsName(name);
        }

        foreach (var address in plan.IPAddresses)
        {
            san.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(issuer.KeyIdentifier);

        var start = plan.Request.ValidFrom ?? now;
        var wanted = start + plan.Lifetime;
        var notAfter = Min(wanted, issuer.NotAfter);
        var certificate = request.Create(issuer.Name, generator, start - Settings.ClockSkewAllowance, notAfter, NewSerial());
        return new SignedLeaf(plan, certificate, Pem.Join([certificate.ExportCertificatePem(), issuer.Pem]), key.ExportPkcs8Pem() + "\n", notAfter, notAfter < wanted);
    }

    private (LedgerEntry Entry, LedgerEvent Event) LeafEntry(SignedLeaf leaf, LoadedCa intermediate, DateTimeOffset now)
    {
        var plan = leaf.Plan;
        var entry = EntryFor(leaf.Certificate, CertificateKind.Leaf, intermediate.Entry.Serial, now) with
        {
            SpiffeId = plan.SpiffeId.ToString(),
            Service = plan.Request.Service,
            DnsNames = plan.DnsNames,
            IPAddresses = plan.IPAddresses.Select(a => a.ToString()).ToList(),
            Lifetime = plan.Lifetime,
            OutputDirectory = plan.OutputDirectory,
        };
        return (entry, new LedgerEvent(now, "issued", entry.Serial, plan.Request.Service,
            $"Issued {plan.SpiffeId} (serial {entry.Serial}, {entry.KeyType}) valid until {leaf.NotAfter:u}"));
    }
}
