using System.CommandLine;
using System.Security.Authentication;

namespace MtlsAspire.CertBootstrap.Doctor;

/// <summary>The <c>doctor URL [--as DIR] [--bundle FILE] [--tls 1.2|1.3] [--crl FILE]</c> command; exit codes are <see cref="DoctorOutcome"/>.</summary>
public static class DoctorCommand
{
    /// <summary>Creates the command; every clock read (certificate dates, timeouts) goes through <paramref name="time"/>.</summary>
    public static Command Create(TimeProvider time)
    {
        var url = new Argument<string>("URL") { Description = "The https endpoint, e.g. https://localhost:7443/api/orders (its path is what GET asks for)" };
        url.Validators.Add(result =>
        {
            if (ParseUrl(result.GetValueOrDefault<string>()) is { Error: { } error })
            {
                result.AddError(error);
            }
        });
        var identity = new Option<string?>("--as") { Description = "Connect as the identity in this credential directory (tls.crt, tls.key; its ca.crt and crl.pem are the default bundle and CRL); without it, no certificate is presented" };
        var bundle = new Option<string?>("--bundle") { Description = "Trust bundle judging the server (default: ca.crt of --as)" };
        var tls = new Option<string?>("--tls") { Description = "Offer only this TLS version: 1.2 or 1.3 (default both)" };
        tls.AcceptOnlyFromAmong("1.2", "1.3");
        var crl = new Option<string?>("--crl") { Description = "CRL judging the server (default: crl.pem beside the bundle)" };
        var command = new Command("doctor", "Connect to an endpoint like openssl s_client, as a service identity or none, and say which side refused what and why")
        {
            url, identity, bundle, tls, crl,
        };
        command.Validators.Add(result =>
        {
            if (result.GetValue(identity) is null && result.GetValue(bundle) is null)
            {
                result.AddError("give --bundle FILE (the CA bundle that judges the server), or --as DIR whose ca.crt is the bundle");
            }
        });
        command.SetAction(async (parse, cancellationToken) =>
        {
            var request = new DoctorRequest(ParseUrl(parse.GetValue(url)).Url!)
            {
                IdentityDirectory = parse.GetValue(identity),
                BundleFile = parse.GetValue(bundle),
                CrlFile = parse.GetValue(crl),
                Protocols = parse.GetValue(tls) switch
                {
                    "1.2" => SslProtocols.Tls12,
                    "1.3" => SslProtocols.Tls13,
                    _ => null,
                },
            };
            var report = await TlsDoctor.RunAsync(request, time, cancellationToken).ConfigureAwait(false);
            await parse.InvocationConfiguration.Output.WriteAsync(report.Text).ConfigureAwait(false);
            return report.ExitCode;
        });
        return command;
    }

    private static (Uri? Url, string? Error) ParseUrl(string? text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme == Uri.UriSchemeHttps && url.Host.Length > 0
            ? (url, null)
            : (null, $"'{text}' is not an https URL: write e.g. https://localhost:7443/api/orders");
}
