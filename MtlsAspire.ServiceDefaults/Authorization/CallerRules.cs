using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using MtlsAspire.ServiceDefaults.Mtls;
using MtlsAspire.ServiceDefaults.Telemetry;
using MtlsAspire.Verification.Identity;

namespace MtlsAspire.ServiceDefaults.Authorization;

/// <summary>
/// The caller rules of each endpoint, compiled once per endpoint, credential generation and change of
/// <c>Mtls:Authorization</c>: the SPIFFE IDs allowed as typed values (names resolved, IDs parsed), a flag for "*", and
/// the texts its decisions need (allowed callers, callee, metric attribute) formatted once. A request looks its
/// endpoint's rule up and compares one <see cref="SpiffeId"/>.
/// </summary>
internal sealed class CallerRules : IDisposable
{
    private readonly IOptionsMonitor<MtlsOptions> _options;
    private readonly MtlsCredentialStore _store;
    private readonly ConditionalWeakTable<Endpoint, Compiled> _compiled = [];
    private readonly IDisposable? _changes;
    private int _optionsVersion;

    public CallerRules(IOptionsMonitor<MtlsOptions> options, MtlsCredentialStore store)
    {
        _options = options;
        _store = store;
        _changes = options.OnChange(_ => Interlocked.Increment(ref _optionsVersion));
    }

    /// <summary>The compiled rule of <paramref name="endpoint"/>, compiled again when the credentials or the options changed since.</summary>
    public Compiled For(Endpoint? endpoint)
    {
        var credentials = _store.Current;
        var version = Volatile.Read(ref _optionsVersion);
        if (endpoint is null)
        {
            return Compile(null, credentials, version);
        }

        if (_compiled.TryGetValue(endpoint, out var compiled) && ReferenceEquals(compiled.Credentials, credentials) && compiled.OptionsVersion == version)
        {
            return compiled;
        }

        // Two requests may compile the same endpoint at once: the same result, the last one stays.
        compiled = Compile(endpoint, credentials, version);
        _compiled.AddOrUpdate(endpoint, compiled);
        return compiled;
    }

    private Compiled Compile(Endpoint? endpoint, MtlsCredentials self, int version)
    {
        var allowed = new List<string>();
        foreach (var callers in endpoint?.Metadata.GetOrderedMetadata<AllowedCallers>() ?? [])
        {
            allowed.AddRange(callers.Callers);
        }

        var authorization = _options.CurrentValue.Authorization;
        foreach (var rule in endpoint?.Metadata.GetOrderedMetadata<AllowedCallersRule>() ?? [])
        {
            if (authorization.Rules.TryGetValue(rule.Rule, out var callers))
            {
                allowed.AddRange(callers);
            }
        }

        var referencing = endpoint?.Metadata.GetMetadata<AllowedReferencingCallers>() is not null;
        if (referencing)
        {
            allowed.AddRange(authorization.ReferencedBy);
        }

        allowed = [.. allowed.Distinct(StringComparer.Ordinal)];
        var anyMember = false;
        var ids = new HashSet<SpiffeId>();
        foreach (var rule in allowed)
        {
            if (rule == "*")
            {
                anyMember = true;
            }
            else if (SpiffeId.TryParse(rule, out var id, out _))
            {
                ids.Add(id);
            }
            else if (self.Environment is not null && NameRules.IsValid(rule))
            {
                ids.Add(self.IdentityOf(rule));
            }
        }

        var allowedText = allowed.Count == 0
            ? referencing
                ? "nobody (no resource references this service: Mtls:Authorization:ReferencedBy is empty)"
                : "nobody (the endpoint's rule is empty)"
            : string.Join(", ", allowed);
        // The route template, never the raw path: the callee is a metric attribute, whose values must come from a fixed set.
        var route = endpoint is RouteEndpoint routed ? "/" + routed.RoutePattern.RawText?.TrimStart('/') : endpoint?.DisplayName ?? "(no endpoint)";
        var selfName = self.Identity.ServiceName ?? self.Identity.ToString();
        // Most endpoints take one method: its callee texts are formatted now, any other method's per request.
        var method = endpoint?.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods is [var only] ? only : null;
        return new Compiled(self, version, self.TrustDomain, anyMember, [.. ids], allowedText, selfName, route, method);
    }

    public void Dispose() => _changes?.Dispose();

    /// <summary>One endpoint's rule, as of one credential generation and options version.</summary>
    internal sealed class Compiled
    {
        private readonly string _trustDomain;
        private readonly bool _anyMember;
        private readonly SpiffeId[] _ids;
        private readonly string? _method;
        private readonly string? _callee;
        private readonly string? _calleeTag;

        public Compiled(MtlsCredentials credentials, int optionsVersion, string trustDomain, bool anyMember, SpiffeId[] ids, string allowedText,
            string self, string route, string? method)
        {
            Credentials = credentials;
            OptionsVersion = optionsVersion;
            _trustDomain = trustDomain;
            _anyMember = anyMember;
            _ids = ids;
            AllowedText = allowedText;
            Self = self;
            Route = route;
            if (method is not null)
            {
                _method = method;
                _callee = $"{self} {method} {route}";
                _calleeTag = $"{self} {MtlsTelemetry.MethodTag(method)} {route}";
            }
        }

        public MtlsCredentials Credentials { get; }

        public int OptionsVersion { get; }

        /// <summary>The callers allowed, as logs and the Development 403 name them.</summary>
        public string AllowedText { get; }

        /// <summary>This service as a decision names it.</summary>
        public string Self { get; }

        /// <summary>The endpoint's route template.</summary>
        public string Route { get; }

        /// <summary>True when the rule allows <paramref name="caller"/>.</summary>
        public bool Allows(SpiffeId caller)
        {
            if (_anyMember && caller.IsMemberOf(_trustDomain))
            {
                return true;
            }

            foreach (var id in _ids)
            {
                if (id == caller)
                {
                    return true;
                }
            }

            return false;
        }

        /// <summary>"{self} {method} {route}" as logs and the 403 say it: the method as sent.</summary>
        public string Callee(string method) => IsCompiledMethod(method) ? _callee! : $"{Self} {method} {Route}";

        /// <summary>The callee as the metric names it: only a known method, or "other".</summary>
        public string CalleeTag(string method) => IsCompiledMethod(method) ? _calleeTag! : $"{Self} {MtlsTelemetry.MethodTag(method)} {Route}";

        private bool IsCompiledMethod(string method) => _method is not null && (ReferenceEquals(method, _method) || string.Equals(method, _method, StringComparison.Ordinal));
    }
}
