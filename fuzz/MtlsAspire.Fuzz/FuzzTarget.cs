namespace MtlsAspire.Fuzz;

/// <summary>
/// One parser fed raw bytes. <see cref="Run"/> lets through only the errors the parser documents for bad input; any
/// other exception escapes, and is what the fuzzer reports as a crash.
/// </summary>
/// <param name="Name">The target's name on the command line, e.g. <c>spiffe-id</c>.</param>
/// <param name="Parser">The public entry it calls, as a reader would look it up.</param>
/// <param name="DocumentedErrors">The exception types the entry documents for bad input (see <see cref="Expect.IsDocumented"/>).</param>
/// <param name="Body">Calls the parser; <see cref="Expect"/> swallows only the documented errors of each call.</param>
public sealed record FuzzTarget(string Name, string Parser, IReadOnlyList<Type> DocumentedErrors, Action<byte[]> Body)
{
    /// <summary>Runs the parser on <paramref name="input"/>; throws whatever undocumented exception it throws.</summary>
    public void Run(byte[] input) => Body(input);
}

/// <summary>Calls a parser, swallowing only its documented error type.</summary>
public static class Expect
{
    /// <summary>
    /// True when <paramref name="error"/> is <typeparamref name="TError"/> or a subclass (the framework throws internal
    /// subclasses of <see cref="System.Security.Cryptography.CryptographicException"/>), except the subclasses of
    /// <see cref="ArgumentException"/>: an ArgumentOutOfRangeException or ArgumentNullException out of a parser is a bug
    /// in it, not the documented "invalid argument".
    /// </summary>
    public static bool IsDocumented<TError>(Exception error)
        where TError : Exception =>
        error.GetType() == typeof(TError) || (error is TError && error is not ArgumentException);

    /// <summary>The parser's result, or default when it threw its documented error (<see cref="IsDocumented"/>).</summary>
    public static T? Only<TError, T>(Func<T> parse)
        where TError : Exception
    {
        try
        {
            return parse();
        }
        catch (Exception e) when (IsDocumented<TError>(e))
        {
            return default;
        }
    }

    /// <summary>Throws when a property the parser promises does not hold: a crash for the fuzzer, not a parse error.</summary>
    public static void That(bool condition, string property)
    {
        if (!condition)
        {
            throw new InvariantBrokenException(property);
        }
    }
}

/// <summary>A parser returned without error but broke a property it promises (a fuzzer finding).</summary>
public sealed class InvariantBrokenException(string property) : Exception($"Invariant broken: {property}");
