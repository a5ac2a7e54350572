namespace MtlsAspire.EndToEnd.Tests.Infrastructure;

/// <summary>Tests that set a variable of this process's environment run alone: every app started meanwhile would see it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentGroup
{
    public const string Name = "process environment";
}
