namespace MtlsAspire.CertBootstrap.Doctor;

/// <summary>What <c>doctor</c> found: a few lines for a person, the last one the verdict, and the outcome.</summary>
/// <param name="Outcome">The outcome; its value is the exit code.</param>
/// <param name="Lines">What was tried and seen, in order; the last line is the verdict.</param>
public sealed record DoctorReport(DoctorOutcome Outcome, IReadOnlyList<string> Lines)
{
    /// <summary>The exit code of <c>doctor</c>.</summary>
    public int ExitCode => (int)Outcome;

    /// <summary>The last line: OK, WARN or FAIL with the outcome and the reason.</summary>
    public string Verdict => Lines[^1];

    /// <summary>Every line, newline-terminated.</summary>
    public string Text => string.Concat(Lines.Select(line => line + "\n"));

    /// <summary>The outcome as a kebab-case name, e.g. server-certificate-expired.</summary>
    public static string Name(DoctorOutcome outcome)
    {
        var text = outcome.ToString();
        var name = new System.Text.StringBuilder();
        foreach (var c in text)
        {
            if (char.IsUpper(c) && name.Length > 0)
            {
                name.Append('-');
            }

            name.Append(char.ToLowerInvariant(c));
        }

        return name.ToString();
    }
}
