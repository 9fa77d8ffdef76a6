using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Telemetry.Core.Net;

namespace Telemetry.Core.Decode;

/// <summary>
/// Decodes link, IP and transport headers of one frame into <see cref="PacketFacts"/> and
/// classifies it. Stateless and allocation-free; reads only headers.
/// </summary>
public static class PacketDecoder
{
    private const ushort EtherTypeIpv4 = 0x0800;
    private const ushort EtherTypeIpv6 = 0x86DD;
    private const int MaxVlanTags = 8;
    private const int MaxIpv6ExtensionHeaders = 16;

    public static DecodeStatus Decode(int linkType, ReadOnlySpan<byte> frame, ref PacketFacts facts)
    {
        int ipOffset;
        switch (linkType)
        {
            case LinkTypes.Ethernet:
                {
                    if (frame.Length < 14)
                    {
                        return DecodeStatus.TruncatedLink;
                    }

                    int offset = 12;
                    ushort etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[offset..]);
                    for (int tags = 0; IsVlanTag(etherType); tags++)
                    {
                        offset += 4;
                        if (tags == MaxVlanTags || frame.Length < offset + 2)
                        {
                            return DecodeStatus.TruncatedLink;
                        }

                        etherType = BinaryPrimitives.ReadUInt16BigEndian(frame[offset..]);
                    }

                    ipOffset = offset + 2;
                    return DecodeEtherType(etherType, frame[ipOffset..], ref facts);
                }

            case LinkTypes.Raw:
                if (frame.IsEmpty)
                {
                    return DecodeStatus.TruncatedIp;
                }

                return (frame[0] >> 4) switch
                {
                    4 => DecodeIpv4(frame, ref facts),
                    6 => DecodeIpv6(frame, ref facts),
                    _ => DecodeStatus.BadIpHeader,
                };
            case LinkTypes.Ipv4:
                return DecodeIpv4(frame, ref facts);
            case LinkTypes.Ipv6:
                return DecodeIpv6(frame, ref facts);
            case LinkTypes.LinuxSll:
                if (frame.Length < 16)
                {
                    return DecodeStatus.TruncatedLink;
                }

                return DecodeEtherType(BinaryPrimitives.ReadUInt16BigEndian(frame[14..]), frame[16..], ref facts);
            case LinkTypes.LinuxSll2:
                if (frame.Length < 20)
                {
                    return DecodeStatus.TruncatedLink;
                }

                return DecodeEtherType(BinaryPrimitives.ReadUInt16BigEndian(frame), frame[20..], ref facts);
            case LinkTypes.Null:
            case LinkTypes.Loop:
                {
                    if (frame.Length < 4)
                    {
                        return DecodeStatus.TruncatedLink;
                    }

                    // NULL holds the family in the capturing host's byte order, LOOP in network order.
                    uint family = linkType == LinkTypes.Loop
                        ? BinaryPrimitives.ReadUInt32BigEndian(frame)
                        : BinaryPrimitives.ReadUInt32LittleEndian(frame);
                    if (family > 0xFFFF)
                    {
                        family = BinaryPrimitives.ReverseEndianness(family);
                    }

                    return family switch
                    {
                        2 => DecodeIpv4(frame[4..], ref facts),
                        10 or 24 or 28 or 30 => DecodeIpv6(frame[4..], ref facts),
                        _ => DecodeStatus.NonIp,
                    };
                }

            default:
                return DecodeStatus.UnsupportedLinkType;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsVlanTag(ushort etherType) => etherType is 0x8100 or 0x88A8 or 0x9100 or 0x9200;

    private static DecodeStatus DecodeEtherType(ushort etherType, ReadOnlySpan<byte> payload, ref PacketFacts facts) =>
        etherType switch
        {
            EtherTypeIpv4 => DecodeIpv4(payload, ref facts),
            EtherTypeIpv6 => DecodeIpv6(payload, ref facts),
            _ => DecodeStatus.NonIp,
        };

    private static DecodeStatus DecodeIpv4(ReadOnlySpan<byte> ip, ref PacketFacts facts)
    {
        if (ip.Length < 20)
        {
            return DecodeStatus.TruncatedIp;
        }

        int headerLength = (ip[0] & 0x0F) * 4;
        if ((ip[0] >> 4) != 4 || headerLength < 20)
        {
            return DecodeStatus.BadIpHeader;
        }

        ushort totalLength = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        if (totalLength < headerLength)
        {
            return DecodeStatus.BadIpHeader;
        }

        if (ip.Length < headerLength)
        {
            return DecodeStatus.TruncatedIp;
        }

        facts.IpVersion = 4;
        facts.IpBytes = totalLength;
        facts.IpId = BinaryPrimitives.ReadUInt16BigEndian(ip[4..]);
        facts.Ttl = ip[8];
        facts.Protocol = ip[9];
        facts.Source = IpAddr.FromV4(BinaryPrimitives.ReadUInt32BigEndian(ip[12..]));
        facts.Destination = IpAddr.FromV4(BinaryPrimitives.ReadUInt32BigEndian(ip[16..]));
        int fragmentOffset = BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x1FFF;
        if (fragmentOffset != 0)
        {
            return NonFirstFragment(ref facts);
        }

        facts.IsFragment = false;
        ReadOnlySpan<byte> transport = ip[headerLength..Math.Min(ip.Length, (int)totalLength)];
        return DecodeTransport(transport, ref facts);
    }

    private static DecodeStatus DecodeIpv6(ReadOnlySpan<byte> ip, ref PacketFacts facts)
    {
        if (ip.Length < 40)
        {
            return DecodeStatus.TruncatedIp;
        }

        if ((ip[0] >> 4) != 6)
        {
            return DecodeStatus.BadIpHeader;
        }

        ushort payloadLength = BinaryPrimitives.ReadUInt16BigEndian(ip[4..]);
        facts.IpVersion = 6;
        facts.IpBytes = payloadLength + 40u;
        facts.IpId = 0;
        facts.Ttl = ip[7];
        facts.Source = IpAddr.FromV6(ip[8..]);
        facts.Destination = IpAddr.FromV6(ip[24..]);
        facts.IsFragment = false;

        byte next = ip[6];
        int offset = 40;
        int end = Math.Min(ip.Length, 40 + payloadLength);
        for (int i = 0; i < MaxIpv6ExtensionHeaders; i++)
        {
            switch (next)
            {
                case 0: // hop-by-hop
                case 43: // routing
                case 60: // destination options
                    if (end < offset + 8)
                    {
                        return DecodeStatus.TruncatedIp;
                    }

                    next = ip[offset];
                    offset += (ip[offset + 1] + 1) * 8;
                    continue;
                case 51: // authentication header
                    if (end < offset + 8)
                    {
                        return DecodeStatus.TruncatedIp;
                    }

                    next = ip[offset];
                    offset += (ip[offset + 1] + 2) * 4;
                    continue;
                case 44: // fragment
                    if (end < offset + 8)
                    {
                        return DecodeStatus.TruncatedIp;
                    }

                    next = ip[offset];
                    facts.IpId = BinaryPrimitives.ReadUInt16BigEndian(ip[(offset + 6)..]);
                    if ((BinaryPrimitives.ReadUInt16BigEndian(ip[(offset + 2)..]) >> 3) != 0)
                    {
                        facts.Protocol = next;
                        return NonFirstFragment(ref facts);
                    }

                    offset += 8;
                    continue;
                default:
                    facts.Protocol = next;
                    return offset > end ? DecodeStatus.TruncatedIp : DecodeTransport(ip[offset..end], ref facts);
            }
        }

        return DecodeStatus.BadIpHeader;
    }

    private static DecodeStatus NonFirstFragment(ref PacketFacts facts)
    {
        ClearTransport(ref facts);
        facts.IsFragment = true;
        facts.Class = TrafficClass.Fragment;
        return DecodeStatus.Ok;
    }

    /// <summary>Zeroes every transport field, so that a reused <see cref="PacketFacts"/> never shows the previous packet's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ClearTransport(ref PacketFacts facts)
    {
        facts.SourcePort = 0;
        facts.DestinationPort = 0;
        facts.Port = 0;
        facts.TcpSequence = 0;
        facts.TcpWindow = 0;
        facts.TcpFlags = 0;
        facts.TcpOptionsLength = 0;
        facts.TcpFirstOption = 0;
        facts.IcmpType = 0;
        facts.IcmpCode = 0;
    }

    private static DecodeStatus DecodeTransport(ReadOnlySpan<byte> transport, ref PacketFacts facts)
    {
        ClearTransport(ref facts);
        switch (facts.Protocol)
        {
            case 6:
                {
                    if (transport.Length < 20)
                    {
                        return DecodeStatus.TruncatedTransport;
                    }

                    facts.SourcePort = BinaryPrimitives.ReadUInt16BigEndian(transport);
                    facts.DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(transport[2..]);
                    facts.TcpSequence = BinaryPrimitives.ReadUInt32BigEndian(transport[4..]);
                    int headerLength = (transport[12] >> 4) * 4;
                    byte flags = transport[13];
                    facts.TcpFlags = flags;
                    facts.TcpWindow = BinaryPrimitives.ReadUInt16BigEndian(transport[14..]);
                    if (headerLength > 20)
                    {
                        facts.TcpOptionsLength = (byte)(headerLength - 20);
                        facts.TcpFirstOption = transport.Length > 20 ? transport[20] : (byte)0;
                    }

                    facts.Port = facts.DestinationPort;
                    facts.Class = ClassifyTcp(flags);
                    return DecodeStatus.Ok;
                }

            case 17:
                if (transport.Length < 8)
                {
                    return DecodeStatus.TruncatedTransport;
                }

                facts.SourcePort = BinaryPrimitives.ReadUInt16BigEndian(transport);
                facts.DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(transport[2..]);
                facts.Port = facts.DestinationPort;
                facts.Class = TrafficClass.Udp;
                return DecodeStatus.Ok;
            case 1:
            case 58:
                if (transport.Length < 2)
                {
                    return DecodeStatus.TruncatedTransport;
                }

                facts.IcmpType = transport[0];
                facts.IcmpCode = transport[1];
                facts.Port = (ushort)((transport[0] << 8) | transport[1]);
                facts.Class = facts.Protocol == 1 ? ClassifyIcmp(transport[0]) : ClassifyIcmpV6(transport[0]);
                return DecodeStatus.Ok;
            default:
                facts.Class = TrafficClass.Other;
                return DecodeStatus.Ok;
        }
    }

    /// <summary>RST wins; then SYN without ACK is a probe, SYN with ACK is backscatter.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TrafficClass ClassifyTcp(byte flags)
    {
        const byte Syn = 0x02, Rst = 0x04, Ack = 0x10;
        if ((flags & Rst) != 0)
        {
            return TrafficClass.TcpRst;
        }

        return (flags & (Syn | Ack)) switch
        {
            Syn => TrafficClass.TcpSyn,
            Syn | Ack => TrafficClass.TcpSynAck,
            _ => TrafficClass.TcpOther,
        };
    }

    public static TrafficClass ClassifyIcmp(byte type) => type switch
    {
        8 or 13 or 15 or 17 => TrafficClass.IcmpRequest,
        0 or 3 or 4 or 5 or 11 or 12 or 14 or 16 or 18 => TrafficClass.IcmpBackscatter,
        _ => TrafficClass.IcmpOther,
    };

    public static TrafficClass ClassifyIcmpV6(byte type) => type switch
    {
        128 => TrafficClass.IcmpRequest,
        1 or 2 or 3 or 4 or 129 => TrafficClass.IcmpBackscatter,
        _ => TrafficClass.IcmpOther,
    };
}
