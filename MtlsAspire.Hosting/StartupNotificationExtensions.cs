using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;

namespace MtlsAspire.Hosting;

/// <summary>Keeps notices that do not apply to this app off the dashboard.</summary>
public static class StartupNotificationExtensions
{
    // Aspire's own switch (KnownConfigNames.InteractivityEnabled): while it is "false", IInteractionService.IsAvailable is
    // false and the AppHost sends the dashboard no notification or prompt. Aspire reads it at every use, not once.
    internal const string InteractivityEnabled = "ASPIRE_INTERACTIVITY_ENABLED";

    /// <summary>
    /// Starts the app without the dashboard notices Aspire raises while it starts, and leaves the dashboard interactive
    /// from the moment every resource has been created (command prompts and progress work as before). That moment comes
    /// after every <c>WaitFor</c> is over: until then a command's progress is not shown and a command that asks for input
    /// fails. Aspire 17 raises a red
    /// "No trusted development certificate" notice on every page when any resource has an <c>https</c> endpoint and the
    /// machine trusts no ASP.NET Core development certificate (<c>DcpHost</c>, just before DCP starts). Every <c>https</c>
    /// endpoint of this app serves a certificate from its own CA and the dashboard is plain HTTP on loopback: no
    /// development certificate is used, so the notice does not apply, and Aspire has no setting for that check alone.
    /// What else Aspire would say at start goes too: an unresolved parameter's prompt (there are none), a container
    /// runtime notice (there are no containers) and the check for a newer Aspire (the versions are pinned). Nothing is
    /// done when <c>ASPIRE_INTERACTIVITY_ENABLED</c> is already set (the testing builder sets it to false; true brings
    /// the notices back), nor outside run mode.
    /// </summary>
    /// <param name="builder">The AppHost's builder.</param>
    public static IDistributedApplicationBuilder WithoutStartupNotifications(this IDistributedApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!builder.ExecutionContext.IsRunMode || builder.Configuration[InteractivityEnabled] is not null)
        {
            return builder;
        }

        builder.Configuration[InteractivityEnabled] = "false";
        // Published once DCP has created the resources, which is after the development-certificate check.
        builder.Eventing.Subscribe<AfterResourcesCreatedEvent>((_, _) =>
        {
            builder.Configuration[InteractivityEnabled] = null;
            return Task.CompletedTask;
        });
        return builder;
    }
}
