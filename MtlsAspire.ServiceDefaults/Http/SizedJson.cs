using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MtlsAspire.ServiceDefaults.Http;

/// <summary>
/// JSON answers sent with a Content-Length (<see cref="SizedJson{T}"/>): the counterparts of <c>TypedResults.Ok</c>,
/// <c>Created</c> and <c>Json</c>, with the same body bytes.
/// </summary>
public static class SizedJson
{
    /// <summary>200 with <paramref name="value"/> as JSON.</summary>
    public static SizedJson<T> Ok<T>(T value) => new(value, StatusCodes.Status200OK);

    /// <summary>201 with a Location header and <paramref name="value"/> as JSON.</summary>
    public static SizedJson<T> Created<T>(string location, T value) => new(value, StatusCodes.Status201Created, location);

    /// <summary><paramref name="statusCode"/> with <paramref name="value"/> as JSON.</summary>
    public static SizedJson<T> Status<T>(T value, int statusCode) => new(value, statusCode);
}

/// <summary>
/// A JSON answer serialized before anything is sent, so that it goes out with a Content-Length: headers and body leave
/// in one write, one TLS record for a small answer, where a body written as it is serialized goes chunked and its last
/// chunk can cost a record of its own. The bytes are those <c>TypedResults.Ok(value)</c> writes: the app's
/// <see cref="JsonOptions"/>, the value's runtime type, <c>application/json; charset=utf-8</c>.
/// </summary>
/// <typeparam name="T">The value's declared type.</typeparam>
public sealed class SizedJson<T> : IResult, IStatusCodeHttpResult, IValueHttpResult, IValueHttpResult<T>, IContentTypeHttpResult
{
    private const string JsonContentType = "application/json; charset=utf-8";

    internal SizedJson(T value, int statusCode, string? location = null)
    {
        Value = value;
        StatusCode = statusCode;
        Location = location;
    }

    /// <summary>The value written as JSON.</summary>
    public T Value { get; }

    /// <summary>The status code.</summary>
    public int StatusCode { get; }

    /// <summary>The Location header's value, when there is one.</summary>
    public string? Location { get; }

    int? IStatusCodeHttpResult.StatusCode => StatusCode;

    object? IValueHttpResult.Value => Value;

    /// <summary>Always <c>application/json; charset=utf-8</c>.</summary>
    public string ContentType => JsonContentType;

    /// <inheritdoc/>
    public Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        var options = httpContext.RequestServices.GetService<IOptions<JsonOptions>>()?.Value.SerializerOptions ?? JsonSerializerOptions.Web;
        // As TypedResults does: a value whose runtime type differs (a List behind an IReadOnlyList) is written as that type.
        var type = Value?.GetType() ?? typeof(T);
        var body = JsonSerializer.SerializeToUtf8Bytes(Value, options.GetTypeInfo(type));
        var response = httpContext.Response;
        response.StatusCode = StatusCode;
        if (Location is not null)
        {
            response.Headers.Location = Location;
        }

        response.ContentType = JsonContentType;
        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body, httpContext.RequestAborted).AsTask();
    }
}
