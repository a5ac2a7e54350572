using MtlsAspire.CertBootstrap.Cli;

using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancellation.Cancel();
};

return await CertBootstrapCli.RunAsync(args, Console.Out, Console.Error, TimeProvider.System, cancellation.Token);
