namespace MtlsAspire.ServiceDefaults.Tests;

/// <summary>A service carries the verifier, never the CA, its ledger or the CLI.</summary>
public class LayeringTests
{
    [Fact]
    public void ServiceDefaults_references_the_verifier_and_not_the_ca_its_ledger_or_the_cli()
    {
        var references = typeof(Extensions).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();

        Assert.Contains("MtlsAspire.Verification", references);
        Assert.DoesNotContain("CertBootstrap", references);
        Assert.DoesNotContain("Microsoft.Data.Sqlite", references);
        Assert.DoesNotContain("System.CommandLine", references);
        Assert.DoesNotContain(references, name => name?.StartsWith("Aspire.Hosting", StringComparison.Ordinal) == true);
    }
}
