namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// Endpoint metadata: a management endpoint (health, credential status). With <c>AddMtlsServer</c> it is served only on
/// the plain management port, and there only to GET and HEAD; on the mTLS port it does not exist (the request is answered
/// as any unknown path is). <c>MapDefaultEndpoints</c> puts it on <c>/health</c>, <c>/alive</c> and <c>/mtls/status</c>.
/// </summary>
public sealed class ManagementEndpointMetadata;
