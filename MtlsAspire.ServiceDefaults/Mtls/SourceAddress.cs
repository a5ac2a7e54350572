using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace MtlsAspire.ServiceDefaults.Mtls;

/// <summary>
/// The unit <see cref="HandshakeAdmission"/> counts a peer by: an IPv4 address, or the /64 prefix of an IPv6 address
/// (an IPv4-mapped IPv6 address counts as its IPv4 address). A /64 is the smallest block a site is given, and one
/// host may use any of its 2^64 addresses: keyed by full address, one attacker would be as many sources as it likes.
/// </summary>
internal readonly record struct SourceAddress(UInt128 Value, bool IsIPv6)
{
    /// <summary>The source of <paramref name="endpoint"/>; false for endpoints without an IP address (a Unix socket).</summary>
    public static bool TryFrom(EndPoint? endpoint, out SourceAddress source)
    {
        if (endpoint is IPEndPoint { Address: var address })
        {
            source = From(address);
            return true;
        }

        source = default;
        return false;
    }

    public static SourceAddress From(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(bytes, out _);
            return new SourceAddress(BinaryPrimitives.ReadUInt32BigEndian(bytes), IsIPv6: false);
        }

        address.TryWriteBytes(bytes, out _);
        // The interface identifier (the low 64 bits) is the host's to choose: dropped.
        return new SourceAddress((UInt128)BinaryPrimitives.ReadUInt64BigEndian(bytes) << 64, IsIPv6: true);
    }

    /// <summary>For logs: <c>192.0.2.7</c>, or <c>2001:db8:1:2::/64</c>.</summary>
    public override string ToString()
    {
        if (!IsIPv6)
        {
            Span<byte> v4 = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(v4, (uint)Value);
            return new IPAddress(v4).ToString();
        }

        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(bytes, Value);
        return string.Create(CultureInfo.InvariantCulture, $"{new IPAddress(bytes)}/64");
    }
}
