using System.Buffers.Binary;
using System.Net;

namespace Telemetry.Testing;

/// <summary>
/// Builds IP packets and link-layer frames byte by byte, independently of the decoder, for
/// test captures. Checksums are filled in so tshark shows the packets as valid.
/// </summary>
public static class PacketBuilder
{
    public const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, Ack = 0x10, Urg = 0x20;

    public static byte[] Tcp(ushort sport, ushort dport, byte flags, uint seq = 1, ushort window = 1024, byte[]? options = null, int payload = 0)
    {
        options ??= [];
        int optionLength = (options.Length + 3) & ~3;
        byte[] tcp = new byte[20 + optionLength + payload];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, sport);
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(4), seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(8), (flags & Ack) != 0 ? 12345u : 0u);
        tcp[12] = (byte)(((20 + optionLength) / 4) << 4);
        tcp[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(14), window);
        options.CopyTo(tcp, 20);
        for (int i = 20 + optionLength; i < tcp.Length; i++)
        {
            tcp[i] = (byte)i;
        }

        return tcp;
    }

    public static byte[] Udp(ushort sport, ushort dport, int payload = 8)
    {
        byte[] udp = new byte[8 + payload];
        BinaryPrimitives.WriteUInt16BigEndian(udp, sport);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        for (int i = 8; i < udp.Length; i++)
        {
            udp[i] = (byte)(i * 7);
        }

        return udp;
    }

    public static byte[] Icmp(byte type, byte code, int payload = 4)
    {
        byte[] icmp = new byte[8 + payload];
        icmp[0] = type;
        icmp[1] = code;
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(4), 0x1234);
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(6), 1);
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(2), Checksum(icmp, 0));
        return icmp;
    }

    /// <summary>An IPv4 packet. <paramref name="fragmentOffset"/> is in 8-byte units; <paramref name="options"/> are padded to 4 bytes.</summary>
    public static byte[] Ipv4(string src, string dst, byte protocol, byte[] payload, ushort ipId = 1, byte ttl = 64,
        int fragmentOffset = 0, bool moreFragments = false, byte[]? options = null)
    {
        options ??= [];
        int optionLength = (options.Length + 3) & ~3;
        int headerLength = 20 + optionLength;
        byte[] ip = new byte[headerLength + payload.Length];
        ip[0] = (byte)(0x40 | (headerLength / 4));
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(2), (ushort)ip.Length);
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(4), ipId);
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(6), (ushort)((moreFragments ? 0x2000 : 0) | (fragmentOffset & 0x1FFF)));
        ip[8] = ttl;
        ip[9] = protocol;
        IPAddress.Parse(src).GetAddressBytes().CopyTo(ip, 12);
        IPAddress.Parse(dst).GetAddressBytes().CopyTo(ip, 16);
        options.CopyTo(ip, 20);
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(10), Checksum(ip.AsSpan(0, headerLength), 0));
        payload.CopyTo(ip, headerLength);
        if (fragmentOffset == 0)
        {
            FillTransportChecksum(ip.AsSpan(headerLength), protocol, PseudoV4(ip, payload.Length, protocol));
        }

        return ip;
    }

    /// <summary>An IPv6 extension header: next header is patched in by <see cref="Ipv6"/>.</summary>
    public sealed record Extension(byte Type, byte[] Body);

    public static Extension HopByHop() => new(0, [0, 0, 1, 4, 0, 0, 0, 0]);

    public static Extension DestinationOptions() => new(60, [0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

    public static Extension Routing() => new(43, [0, 0, 4, 0, 0, 0, 0, 0]);

    public static Extension FragmentHeader(int offset, bool more, uint id) =>
        new(44, [0, 0, (byte)(offset >> 5), (byte)(((offset & 0x1F) << 3) | (more ? 1 : 0)), (byte)(id >> 24), (byte)(id >> 16), (byte)(id >> 8), (byte)id]);

    public static byte[] Ipv6(string src, string dst, byte protocol, byte[] payload, byte hopLimit = 64, params Extension[] extensions)
    {
        int extLength = extensions.Sum(e => e.Body.Length);
        byte[] ip = new byte[40 + extLength + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(ip, 0x60000000);
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(4), (ushort)(extLength + payload.Length));
        ip[6] = extensions.Length > 0 ? extensions[0].Type : protocol;
        ip[7] = hopLimit;
        IPAddress.Parse(src).GetAddressBytes().CopyTo(ip, 8);
        IPAddress.Parse(dst).GetAddressBytes().CopyTo(ip, 24);
        int offset = 40;
        bool nonFirstFragment = false;
        for (int i = 0; i < extensions.Length; i++)
        {
            byte[] body = (byte[])extensions[i].Body.Clone();
            body[0] = i + 1 < extensions.Length ? extensions[i + 1].Type : protocol;
            if (extensions[i].Type != 44)
            {
                body[1] = (byte)((body.Length / 8) - 1);
            }
            else if (((body[2] << 5) | (body[3] >> 3)) != 0)
            {
                nonFirstFragment = true;
            }

            body.CopyTo(ip, offset);
            offset += body.Length;
        }

        payload.CopyTo(ip, offset);
        if (!nonFirstFragment)
        {
            uint pseudo = Sum(ip.AsSpan(8, 32)) + (uint)payload.Length + protocol;
            FillTransportChecksum(ip.AsSpan(offset), protocol, pseudo);
        }

        return ip;
    }

    public static byte[] Ethernet(byte[] ip, params ushort[] vlanTpids)
    {
        ushort etherType = (ip[0] >> 4) == 6 ? (ushort)0x86DD : (ushort)0x0800;
        return EthernetWithType(ip, etherType, vlanTpids);
    }

    public static byte[] EthernetWithType(byte[] payload, ushort etherType, params ushort[] vlanTpids)
    {
        byte[] frame = new byte[14 + (4 * vlanTpids.Length) + payload.Length];
        byte[] dstMac = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
        byte[] srcMac = [0x00, 0x66, 0x77, 0x88, 0x99, 0xAA];
        dstMac.CopyTo(frame, 0);
        srcMac.CopyTo(frame, 6);
        int offset = 12;
        for (int i = 0; i < vlanTpids.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(offset), vlanTpids[i]);
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(offset + 2), (ushort)(100 + i));
            offset += 4;
        }

        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(offset), etherType);
        payload.CopyTo(frame, offset + 2);
        return frame;
    }

    /// <summary>Linux cooked capture v1 (LINKTYPE_LINUX_SLL, 113).</summary>
    public static byte[] Sll(byte[] ip)
    {
        byte[] frame = new byte[16 + ip.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, 0);        // packet type: to us
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), 1); // ARPHRD_ETHER
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(4), 6);
        frame[6] = 0x02;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14), (ip[0] >> 4) == 6 ? (ushort)0x86DD : (ushort)0x0800);
        ip.CopyTo(frame, 16);
        return frame;
    }

    /// <summary>Linux cooked capture v2 (LINKTYPE_LINUX_SLL2, 276).</summary>
    public static byte[] Sll2(byte[] ip)
    {
        byte[] frame = new byte[20 + ip.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ip[0] >> 4) == 6 ? (ushort)0x86DD : (ushort)0x0800);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), 2); // interface index
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(8), 1); // ARPHRD_ETHER
        frame[10] = 0; // packet type
        frame[11] = 6;
        frame[12] = 0x02;
        ip.CopyTo(frame, 20);
        return frame;
    }

    /// <summary>BSD loopback: LINKTYPE_NULL (0) in the writer's byte order, LINKTYPE_LOOP (108) big-endian.</summary>
    public static byte[] Null(byte[] ip, bool loop, bool bigEndian, uint ipv6Family = 24)
    {
        uint family = (ip[0] >> 4) == 6 ? ipv6Family : 2u;
        byte[] frame = new byte[4 + ip.Length];
        if (loop || bigEndian)
        {
            BinaryPrimitives.WriteUInt32BigEndian(frame, family);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(frame, family);
        }

        ip.CopyTo(frame, 4);
        return frame;
    }

    private static uint PseudoV4(byte[] ip, int length, byte protocol) => Sum(ip.AsSpan(12, 8)) + (uint)length + protocol;

    private static void FillTransportChecksum(Span<byte> transport, byte protocol, uint pseudo)
    {
        int at = protocol switch
        {
            6 when transport.Length >= 20 => 16,
            17 when transport.Length >= 8 => 6,
            58 when transport.Length >= 4 => 2,
            _ => -1,
        };
        if (at < 0)
        {
            return;
        }

        transport[at] = 0;
        transport[at + 1] = 0;
        ushort sum = Checksum(transport, pseudo);
        if (protocol == 17 && sum == 0)
        {
            sum = 0xFFFF;
        }

        BinaryPrimitives.WriteUInt16BigEndian(transport[at..], sum);
    }

    private static uint Sum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < data.Length; i += 2)
        {
            sum += (uint)((data[i] << 8) | data[i + 1]);
        }

        if ((data.Length & 1) != 0)
        {
            sum += (uint)(data[^1] << 8);
        }

        return sum;
    }

    private static ushort Checksum(ReadOnlySpan<byte> data, uint initial)
    {
        uint sum = initial + Sum(data);
        while ((sum >> 16) != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }

        return (ushort)~sum;
    }
}
