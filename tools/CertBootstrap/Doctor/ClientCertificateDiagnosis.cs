using System.Globalization;
using MtlsAspire.Verification.Certificates;
using MtlsAspire.Verification.Storage;

namespace MtlsAspire.CertBootstrap.Doctor;

/// <summary>
/// Why a server refused our certificate, as far as this side can tell: the server's acceptable issuers (from its
/// CertificateRequest), then our own chain judged as the server would (dates, clientAuth, a leaf-only tls.crt, our CRL).
/// </summary>
internal static class ClientCertificateDiagnosis
{
    /// <summary>The reason for the verdict, and the lines that go before it.</summary>
    /// <param name="identity">Our credentials.</param>
    /// <param name="check">Our chain judged against the bundle with clientAuth required.</param>
    /// <param name="acceptable">The issuers the server named in its CertificateRequest (often none).</param>
    /// <param name="crlFile">Our crl.pem, named when revocation is the reason.</param>
    public static (string Reason, IReadOnlyList<(string Label, string Text)> Lines) Explain(ServiceCredentials identity, ChainCheck check,
        IReadOnlyList<string> acceptable, string crlFile)
    {
        var lines = new List<(string, string)>();
        var ourIssuers = identity.Intermediates.Select(c => c.Subject).Append(identity.Leaf.Issuer).Concat(check.Path.Skip(1).Select(c => c.Subject)).ToHashSet(StringComparer.Ordinal);
        var accepted = string.Join(", ", acceptable.Select(a => $"'{a}'"));
        if (acceptable.Count > 0 && !acceptable.Any(ourIssuers.Contains))
        {
            lines.AddRange(check.Problems.Select(p => ("also", p)));
            return ($"it is not from the server's CA: the server accepts certificates issued by {accepted}; ours is issued by '{identity.Leaf.Issuer}'", lines);
        }

        if (acceptable.Count > 0)
        {
            lines.Add(("issuers", $"the server accepts certificates issued by {accepted}"));
        }

        if (check.Failure is not { } failure)
        {
            return ($"our certificate looks valid here (chain to '{check.Path[^1].Subject}', clientAuth, {TlsDoctor.DescribeRevocation(check)}), so the server's reason cannot be seen from this side; its log names it", lines);
        }

        lines.AddRange(OtherProblems(check).Select(p => ("also", p)));
        var reason = failure.Kind switch
        {
            ChainFailure.IncompleteChain when identity.Intermediates.Count == 0 =>
                $"our chain is incomplete: {CredentialFiles.CertificateFileName} holds only the leaf, without its intermediate ('{identity.Leaf.Issuer}'); {failure.Message}",
            ChainFailure.Revoked or ChainFailure.RevocationUnknown => $"{failure.Message} (per our {CredentialFiles.CrlFileName} {crlFile})",
            ChainFailure.Expired or ChainFailure.NotYetValid => string.Create(CultureInfo.InvariantCulture, $"our certificate {failure.Message} (this machine's clock)"),
            _ => $"our certificate: {failure.Message}",
        };
        return (reason, lines);
    }

    /// <summary>The problems besides the decisive one; a kind already named is not repeated (X509Chain flags a missing EKU on every element).</summary>
    public static IEnumerable<string> OtherProblems(ChainCheck check) =>
        check.Failures.Where(f => f.Kind != check.Failure?.Kind).Select(f => f.Message);
}
