using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MtlsAspire.Verification;
using MtlsAspire.CertBootstrap.Authority;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.CertBootstrap.Inspection;
using MtlsAspire.CertBootstrap.Ledger;
using MtlsAspire.CertBootstrap.Fleet;
using MtlsAspire.CertBootstrap.Cluster;
using MtlsAspire.Verification.Status;

namespace MtlsAspire.CertBootstrap.Cli;

/// <summary>
/// The CertBootstrap command line: init, issue, renew, revoke, crl, rotate-intermediate, rotate-root, list, inspect, doctor, publish-cluster.
/// Exit codes: 0 ok; 1 the operation failed (one line on stderr says why); 2 the command line is wrong;
/// 3 <c>inspect</c> found the certificate not valid; 10-26 <c>doctor</c>'s findings, one per <see cref="Doctor.DoctorOutcome"/>.
/// </summary>
public static class CertBootstrapCli
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>The operation failed; stderr has the reason.</summary>
    public const int Failed = 1;

    /// <summary>The command line is wrong.</summary>
    public const int Usage = 2;

    /// <summary><c>inspect</c>: the certificate is expired, untrusted, revoked or otherwise not valid.</summary>
    public const int NotValid = 3;

    /// <summary>Runs the CLI with <paramref name="args"/>, writing to <paramref name="output"/> and <paramref name="error"/>.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, TimeProvider time, CancellationToken cancellationToken = default)
    {
        var root = Build(time);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            await error.WriteLineAsync($"error: {parse.Errors[0].Message} (see --help)").ConfigureAwait(false);
            return Usage;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (Exception e) when (e is PkiException or InvalidDataException or FormatException or ArgumentException or CryptographicException or IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"error: {OneLine(e.Message)}").ConfigureAwait(false);
            return Failed;
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            await error.WriteLineAsync($"error: the ledger (ledger.db in the PKI directory) could not be used: {OneLine(e.Message)}").ConfigureAwait(false);
            return Failed;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Still one line: a stack trace helps nobody at 3 AM; the type names what broke.
            await error.WriteLineAsync($"error: unexpected {e.GetType().Name}: {OneLine(e.Message)}").ConfigureAwait(false);
            return Failed;
        }
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();

    private static RootCommand Build(TimeProvider time)
    {
        var pki = new Option<string>("--pki") { Description = "The PKI directory", Required = true };
        var passphraseFile = new Option<string?>("--passphrase-file") { Description = $"File holding the root key passphrase (else ${PassphraseSource.EnvironmentVariable}, else the generated local file)" };
        var service = new Option<string>("--service") { Description = "Service name (lowercase kebab-case)", Required = true };

        var root = new RootCommand("CertBootstrap: the MtlsAspire PKI. A root CA, an intermediate, and SPIFFE leaf certificates for services.");

        var trustDomain = new Option<string>("--trust-domain") { Description = "SPIFFE trust domain", DefaultValueFactory = _ => "mtls-aspire.local" };
        var environment = new Option<string>("--environment") { Description = "Environment in each SPIFFE ID path", DefaultValueFactory = _ => "development" };
        var keyType = new Option<string>("--key-type") { Description = "ecdsa-p256 or rsa-2048", DefaultValueFactory = _ => "ecdsa-p256" };
        keyType.AcceptOnlyFromAmong("ecdsa-p256", "rsa-2048");
        var force = new Option<bool>("--force") { Description = "Move an existing PKI aside (never deleted) and create a new one" };
        var init = new Command("init", "Create a root CA, an intermediate CA, their CRLs and the trust bundle") { pki, passphraseFile, trustDomain, environment, keyType, force };
        init.SetAction(parse =>
        {
            var settings = new PkiSettings
            {
                TrustDomain = parse.GetValue(trustDomain)!,
                Environment = parse.GetValue(environment)!,
                KeyType = KeyTypeNames.Parse(parse.GetValue(keyType)!),
            };
            var (authority, result) = CertificateAuthority.Initialize(parse.GetValue(pki)!, settings, Passphrase(parse, passphraseFile), time, parse.GetValue(force));
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"Initialized a PKI in {authority.Layout.Root} (trust domain {settings.TrustDomain}, environment {settings.Environment}, {settings.KeyType.ToName()})");
            if (result.ReplacedDirectory is not null)
            {
                output.WriteLine($"  the previous PKI was moved to {result.ReplacedDirectory}");
            }

            Describe(output, "root CA", result.Root);
            Describe(output, "intermediate CA", result.Intermediate);
            output.WriteLine($"  trust bundle     {authority.Layout.BundleFile}");
            if (result.GeneratedPassphraseFile is not null)
            {
                output.WriteLine($"  Generated a random root key passphrase in {result.GeneratedPassphraseFile} (mode 0600). Keep it secret; pass --passphrase-file or set {PassphraseSource.EnvironmentVariable} to use your own.");
            }

            return Ok;
        });
        root.Subcommands.Add(init);

        var dns = new Option<string[]>("--dns") { Description = "DNS SAN (repeatable); default localhost when no --dns or --ip", AllowMultipleArgumentsPerToken = true };
        var ip = new Option<string[]>("--ip") { Description = "IP SAN (repeatable); default 127.0.0.1 when no --dns or --ip", AllowMultipleArgumentsPerToken = true };
        var lifetime = new Option<string?>("--lifetime") { Description = "Leaf lifetime, e.g. 24h, 90m, 7d (default 24h)" };
        var output = new Option<string?>("--out") { Description = "Credential directory (default {pki}/services/{service})" };
        var leafKeyType = new Option<string?>("--key-type") { Description = "ecdsa-p256 or rsa-2048 (default: the PKI's)" };
        leafKeyType.AcceptOnlyFromAmong("ecdsa-p256", "rsa-2048");
        var issue = new Command("issue", "Issue a service its SPIFFE leaf certificate (fresh key) and write tls.crt, tls.key, ca.crt, crl.pem") { pki, passphraseFile, service, dns, ip, lifetime, output, leafKeyType };
        issue.SetAction(parse =>
        {
            var authority = Open(parse, pki, passphraseFile, time);
            var request = new LeafRequest(parse.GetValue(service)!)
            {
                DnsNames = parse.GetValue(dns) ?? [],
                IPAddresses = (parse.GetValue(ip) ?? []).Select(ParseAddress).ToList(),
                Lifetime = parse.GetValue(lifetime) is { } text ? Durations.Parse(text) : null,
                KeyType = parse.GetValue(leafKeyType) is { } kt ? KeyTypeNames.Parse(kt) : null,
                OutputDirectory = parse.GetValue(output),
            };
            WriteIssued(parse.InvocationConfiguration.Output, "Issued", authority.Issue(request));
            return Ok;
        });
        root.Subcommands.Add(issue);

        var renew = new Command("renew", "Re-issue a service's leaf with a new key, same names and lifetime") { pki, passphraseFile, service };
        renew.SetAction(parse =>
        {
            var authority = Open(parse, pki, passphraseFile, time);
            WriteIssued(parse.InvocationConfiguration.Output, "Renewed", authority.Renew(parse.GetValue(service)!));
            return Ok;
        });
        root.Subcommands.Add(renew);

        var serial = new Option<string?>("--serial") { Description = "Serial number (hex) of the certificate to revoke" };
        var revokeService = new Option<string?>("--service") { Description = "Revoke this service's active leaf" };
        var reason = new Option<string>("--reason")
        {
            Description = "unspecified, keyCompromise, caCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn",
            DefaultValueFactory = _ => "unspecified",
        };
        var endpoints = new Option<string?>("--endpoints") { Description = "The AppHost's endpoints.json, to ask running services what they loaded (default: endpoints.json beside the PKI directory)" };
        var noReissue = new Option<bool>("--no-reissue") { Description = "With --service: do not give the service a new key and certificate (it is left without a valid one)" };
        var revoke = new Command("revoke", "Revoke a leaf or intermediate; publishes the CRL to every service directory. With --service, the service gets a new key and certificate") { pki, passphraseFile, serial, revokeService, reason, noReissue, endpoints };
        revoke.Validators.Add(result =>
        {
            if ((result.GetValue(serial) is null) == (result.GetValue(revokeService) is null))
            {
                result.AddError("give exactly one of --serial or --service");
            }
        });
        revoke.SetAction(async (parse, cancellationToken) =>
        {
            var authority = Open(parse, pki, passphraseFile, time);
            var why = ParseReason(parse.GetValue(reason)!);
            var writer = parse.InvocationConfiguration.Output;
            var serialToRevoke = parse.GetValue(serial);
            if (parse.GetValue(revokeService) is { } name)
            {
                var active = authority.Ledger.ActiveLeaf(name) ?? throw new PkiException($"Service '{name}' has no active leaf to revoke (see 'list').");
                serialToRevoke = active.Serial;
                if (!parse.GetValue(noReissue))
                {
                    // The replacement first, so that no peer refuses the service in between; then the revocation.
                    var replacement = authority.Renew(name);
                    WriteIssued(writer, "Re-issued (new key)", replacement);
                    using var fleet = Fleet(parse, pki, endpoints);
                    try
                    {
                        await FleetWait.UntilAsync(fleet, "its new key and certificate",
                            s => s.SpiffeId != replacement.SpiffeId.ToString() || s.Leaf.Serial == replacement.Entry.Serial, TimeSpan.FromSeconds(2), time, _ => { }, cancellationToken)
                            .ConfigureAwait(false);
                    }
                    catch (FleetStalledException e)
                    {
                        await parse.InvocationConfiguration.Error.WriteLineAsync($"warning: revoking the old certificate anyway: {e.Message}").ConfigureAwait(false);
                    }
                }
            }

            var revoked = authority.Revoke(serialToRevoke!, why);
            writer.WriteLine(
                $"Revoked {revoked.SpiffeId ?? revoked.Subject} (serial {revoked.Serial}), reason {ChainCheck.ReasonName(revoked.RevocationReason)}; CRLs republished to every service directory (running services load them within seconds).");
            return Ok;
        });
        root.Subcommands.Add(revoke);

        var crl = new Command("crl", "Re-sign every current CRL and republish crl.pem to every service directory") { pki, passphraseFile };
        crl.SetAction(parse =>
        {
            var authority = Open(parse, pki, passphraseFile, time);
            var (published, refresh) = authority.PublishCrls();
            foreach (var list in published)
            {
                parse.InvocationConfiguration.Output.WriteLine(DescribeCrl(list.Status()));
            }

            parse.InvocationConfiguration.Output.WriteLine($"crl.pem republished to {refresh.Refreshed.Count} service directories.");
            foreach (var failure in refresh.Failed)
            {
                parse.InvocationConfiguration.Error.WriteLine($"warning: {failure}");
            }

            return refresh.Failed.Count == 0 ? Ok : Failed;
        });
        root.Subcommands.Add(crl);

        var renewLeaves = new Option<bool>("--renew-leaves") { Description = "Also renew every service's active leaf under the new intermediate (once running services loaded its CRL)" };
        var stepTimeout = new Option<string>("--step-timeout") { Description = "How long a step may wait for the running services, e.g. 90s, 5m", DefaultValueFactory = _ => "5m" };
        var rotate = new Command("rotate-intermediate", "Issue a new intermediate under the same root; it signs every new leaf") { pki, passphraseFile, renewLeaves, endpoints, stepTimeout };
        rotate.SetAction(async (parse, cancellationToken) =>
        {
            var authority = Open(parse, pki, passphraseFile, time);
            var writer = parse.InvocationConfiguration.Output;
            using var held = OperationLock.Acquire(authority.Layout, "rotate-intermediate (CLI)", time);
            var (intermediate, _) = authority.RotateIntermediate();
            writer.WriteLine("Rotated the intermediate CA; the previous one stays trusted, and its CRL published, until the last leaf it signed expires.");
            Describe(writer, "intermediate CA", intermediate);
            if (!parse.GetValue(renewLeaves))
            {
                writer.WriteLine("  Leaves move to it as they renew (a running AppHost moves them within seconds; or run 'renew --service NAME', or rotate with --renew-leaves).");
                return Ok;
            }

            using var fleet = Fleet(parse, pki, endpoints);
            await FleetWait.UntilAsync(fleet, $"the CRL of {intermediate.Subject}", st => st.Crls.Any(c => c.Issuer == intermediate.Subject),
                Durations.Parse(parse.GetValue(stepTimeout)!), time, writer.WriteLine, cancellationToken).ConfigureAwait(false);
            foreach (var leaf in authority.RenewAll())
            {
                WriteIssued(writer, "Renewed", leaf);
            }

            return Ok;
        });
        root.Subcommands.Add(rotate);

        var abandon = new Option<bool>("--abandon") { Description = "Abandon a root rotation stuck at step 1: the new root (which signed nothing) leaves the bundle again" };
        var offline = new Option<bool>("--offline") { Description = "No service runs: do all three steps at once without asking anyone (else endpoints.json must exist)" };
        var rotateRoot = new Command("rotate-root",
            "Replace the root CA in three steps, each once every running service loaded the previous one: add the new root to every ca.crt; " +
            "sign a new intermediate with it and re-issue every leaf; drop the old root. Resumes a rotation left half-way. Without running services it does all three at once.")
        {
            pki, passphraseFile, endpoints, stepTimeout, abandon, offline,
        };
        rotateRoot.SetAction(async (parse, cancellationToken) =>
        {
            var authority = Open(parse, pki, passphraseFile, time);
            var writer = parse.InvocationConfiguration.Output;
            if (parse.GetValue(abandon))
            {
                using var held = OperationLock.Acquire(authority.Layout, "rotate-root --abandon (CLI)", time);
                var dropped = authority.AbandonRootRotation();
                writer.WriteLine($"Abandoned the root rotation: {dropped.Subject} (serial {dropped.Serial}) left every ca.crt again; trust is as before.");
                return Ok;
            }

            var endpointsFile = EndpointsPath(parse, pki, endpoints);
            if (!File.Exists(endpointsFile) && !parse.GetValue(offline))
            {
                // Without it nobody is asked, and dropping the old root seconds after adding the new one would cut off
                // every service that is running but was not asked.
                throw new PkiException($"{endpointsFile} does not exist, so the running services cannot be asked what they loaded: " +
                    "pass --endpoints FILE (the AppHost's endpoints.json), or --offline if no service runs.");
            }

            using var fleet = HttpFleet.FromEndpointsFile(endpointsFile);
            var rotator = new RootRotator(authority, fleet, time, line => writer.WriteLine(line)) { StepTimeout = Durations.Parse(parse.GetValue(stepTimeout)!) };
            foreach (var step in await rotator.RunAsync("rotate-root (CLI)", cancellationToken).ConfigureAwait(false))
            {
                writer.WriteLine($"  step {step.Name}: {Durations.Took(step.Took)}");
            }

            return Ok;
        });
        root.Subcommands.Add(rotateRoot);

        var events = new Option<bool>("--events") { Description = "Show the lifecycle timeline instead of the certificates" };
        var list = new Command("list", "List every certificate in the ledger with its status") { pki, events };
        list.SetAction(parse =>
        {
            var authority = Open(parse, pki, null, time);
            var writer = parse.InvocationConfiguration.Output;
            if (parse.GetValue(events))
            {
                foreach (var e in authority.Ledger.Events())
                {
                    writer.WriteLine($"{e.At:u}  {e.Kind,-20} {e.Detail}");
                }

                return Ok;
            }

            var now = time.GetUtcNow();
            writer.WriteLine($"{"SERIAL",-32}  {"KIND",-12}  {"STATUS",-10}  {"NOT AFTER",-20}  IDENTITY");
            foreach (var e in authority.Ledger.All())
            {
                var status = e.Status == CertificateStatus.Revoked ? "revoked" : e.IsExpired(now) ? "expired" : e.Status.ToString().ToLowerInvariant();
                writer.WriteLine($"{e.Serial,-32}  {e.Kind.ToString().ToLowerInvariant(),-12}  {status,-10}  {e.NotAfter.UtcDateTime,-20:u}  {e.SpiffeId ?? e.Subject}");
            }

            return Ok;
        });
        root.Subcommands.Add(list);

        var file = new Argument<string>("FILE") { Description = "A PEM certificate file (e.g. a service's tls.crt)" };
        var bundle = new Option<string?>("--bundle") { Description = "Trust bundle to check the chain against (default: ca.crt beside FILE)" };
        var crlFile = new Option<string?>("--crl") { Description = "CRL file to check revocation against (default: crl.pem beside FILE)" };
        var inspect = new Command("inspect", "Describe a certificate: identity, SANs, usages, validity, chain and revocation") { file, bundle, crlFile };
        inspect.SetAction(parse =>
        {
            var report = CertificateReport.Create(parse.GetValue(file)!, parse.GetValue(bundle), parse.GetValue(crlFile), time.GetUtcNow());
            parse.InvocationConfiguration.Output.Write(report.Text);
            if (report.Problem is not null)
            {
                parse.InvocationConfiguration.Error.WriteLine($"not valid: {report.Problem}");
                return NotValid;
            }

            return Ok;
        });
        root.Subcommands.Add(inspect);
        root.Subcommands.Add(Doctor.DoctorCommand.Create(time));
        root.Subcommands.Add(PublishClusterCommand.Create(time));
        return root;
    }

    /// <summary>"CRL #12 of CN=…: 1 revoked, next update 2026-01-31 12:00:00Z".</summary>
    internal static string DescribeCrl(CrlStatus crl) =>
        string.Create(CultureInfo.InvariantCulture, $"CRL #{crl.Number} of {crl.Issuer}: {crl.Revoked} revoked, next update {crl.NextUpdate:u}");

    private static PassphraseSource Passphrase(ParseResult parse, Option<string?> passphraseFile) =>
        PassphraseSource.FromFileOrEnvironment(parse.GetValue(passphraseFile));

    private static CertificateAuthority Open(ParseResult parse, Option<string> pki, Option<string?>? passphraseFile, TimeProvider time) =>
        CertificateAuthority.Open(parse.GetValue(pki)!, passphraseFile is null ? PassphraseSource.Local : Passphrase(parse, passphraseFile), time);

    private static HttpFleet Fleet(ParseResult parse, Option<string> pki, Option<string?> endpoints) => HttpFleet.FromEndpointsFile(EndpointsPath(parse, pki, endpoints));

    private static string EndpointsPath(ParseResult parse, Option<string> pki, Option<string?> endpoints) =>
        parse.GetValue(endpoints) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(parse.GetValue(pki)!))!, "endpoints.json");

    private static IPAddress ParseAddress(string text) =>
        IPAddress.TryParse(text, out var address) ? address : throw new FormatException($"'{text}' is not an IP address.");

    private static X509RevocationReason ParseReason(string text) =>
        Enum.TryParse<X509RevocationReason>(text.Replace("-", "", StringComparison.Ordinal), ignoreCase: true, out var reason) && Enum.IsDefined(reason)
            ? reason
            : throw new FormatException($"'{text}' is not a revocation reason: use unspecified, keyCompromise, caCompromise, affiliationChanged, superseded, cessationOfOperation or privilegeWithdrawn.");

    private static void Describe(TextWriter output, string label, LedgerEntry entry) =>
        output.WriteLine($"  {label,-16} {entry.Subject}, serial {entry.Serial}, valid until {entry.NotAfter:u}");

    private static void WriteIssued(TextWriter output, string verb, IssuedLeaf leaf)
    {
        output.WriteLine($"{verb} {leaf.SpiffeId}");
        output.WriteLine($"  serial           {leaf.Entry.Serial} ({leaf.Entry.KeyType})");
        output.WriteLine($"  valid            {leaf.Entry.NotBefore:u} → {leaf.Entry.NotAfter:u}{(leaf.LifetimeClamped ? " (cut to the intermediate's end of validity)" : string.Empty)}");
        output.WriteLine($"  names            {string.Join(", ", leaf.Entry.DnsNames.Concat(leaf.Entry.IPAddresses))}");
        output.WriteLine($"  files            {leaf.Directory}/{{tls.crt, tls.key, ca.crt, crl.pem}}");
    }
}
