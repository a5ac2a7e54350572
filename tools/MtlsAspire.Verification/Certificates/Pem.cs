using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace MtlsAspire.Verification.Certificates;

/// <summary>PEM text helpers. .NET's PEM exports have no trailing newline; every block written here ends with one.</summary>
public static class Pem
{
    /// <summary>Concatenates PEM blocks, each ending in a newline, so any parser reads the result.</summary>
    public static string Join(IEnumerable<string> blocks)
    {
        var text = new StringBuilder();
        foreach (var block in blocks)
        {
            text.Append(block.TrimEnd('\r', '\n')).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>The certificates' PEM, one block per certificate, in order.</summary>
    public static string Certificates(IEnumerable<X509Certificate2> certificates) =>
        Join(certificates.Select(c => c.ExportCertificatePem()));

    /// <summary>
    /// Reads every CERTIFICATE block of a PEM text, in order. Throws <see cref="InvalidDataException"/> naming
    /// <paramref name="source"/> when there is none or one is damaged.
    /// </summary>
    public static List<X509Certificate2> ReadCertificates(string pemText, string source)
    {
        var certificates = new List<X509Certificate2>();
        var text = pemText.AsSpan();
        while (PemEncoding.TryFind(text, out var fields))
        {
            var label = text[fields.Label];
            if (label.SequenceEqual("CERTIFICATE".AsSpan()))
            {
                try
                {
                    certificates.Add(X509CertificateLoader.LoadCertificate(Convert.FromBase64String(text[fields.Base64Data].ToString())));
                }
                catch (Exception e) when (e is CryptographicException or FormatException)
                {
                    throw new InvalidDataException($"{source}: certificate #{certificates.Count + 1} is damaged ({e.Message.TrimEnd('.')}).", e);
                }
            }

            text = text[fields.Location.End..];
        }

        if (certificates.Count == 0)
        {
            throw new InvalidDataException($"{source}: no PEM certificate found (the file is empty, truncated or not PEM).");
        }

        return certificates;
    }

    /// <summary>Every block with <paramref name="label"/> (e.g. "X509 CRL"), decoded, in order.</summary>
    public static List<byte[]> ReadBlocks(string pemText, string label)
    {
        var blocks = new List<byte[]>();
        var text = pemText.AsSpan();
        while (PemEncoding.TryFind(text, out var fields))
        {
            if (text[fields.Label].SequenceEqual(label.AsSpan()))
            {
                blocks.Add(Convert.FromBase64String(text[fields.Base64Data].ToString()));
            }

            text = text[fields.Location.End..];
        }

        return blocks;
    }
}
