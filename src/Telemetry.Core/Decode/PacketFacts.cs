using System.Runtime.InteropServices;
using Telemetry.Core.Net;

namespace Telemetry.Core.Decode;

/// <summary>
/// Everything the decoder learns about one packet. Rollups use a few fields; the rest
/// (TTL, IP ID, sequence, window, options) stay available to fingerprinting.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public struct PacketFacts
{
    public long TimestampNs;
    public IpAddr Source;
    public IpAddr Destination;

    /// <summary>IP length from the IP header: IPv4 total length, IPv6 payload length + 40.</summary>
    public uint IpBytes;
    public uint TcpSequence;
    public ushort IpId;
    public ushort SourcePort;
    public ushort DestinationPort;
    public ushort TcpWindow;

    /// <summary>The rollup port: the destination port, ICMP type × 256 + code, or 0.</summary>
    public ushort Port;
    public byte IpVersion;

    /// <summary>The transport protocol (IPv6: the last next-header value).</summary>
    public byte Protocol;
    public byte Ttl;
    public byte TcpFlags;
    public byte TcpOptionsLength;
    public byte TcpFirstOption;
    public byte IcmpType;
    public byte IcmpCode;
    public bool IsFragment;
    public TrafficClass Class;
}
