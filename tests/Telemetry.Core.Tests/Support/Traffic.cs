using Telemetry.Core.Decode;
using Telemetry.Core.Net;
using Telemetry.Testing;
using B = Telemetry.Testing.PacketBuilder;

namespace Telemetry.Core.Tests.Support;

/// <summary>What the rollups must count for one packet, known from how it was built (not from the decoder).</summary>
internal sealed record Expected(long TimestampNs, IpAddr Source, IpAddr Destination, byte Protocol, TrafficClass Class, ushort Port, uint IpBytes);

/// <summary>A packet to write into a capture, and what it must count for (null: undecodable).</summary>
internal sealed record GeneratedPacket(TestPacket Packet, Expected? Expected);

/// <summary>Seeded darknet-like traffic over Ethernet: every class, IPv4 and IPv6, truncated frames and ARP.</summary>
internal static class Traffic
{
    private static readonly ushort[] s_ports = [23, 22, 80, 443, 2323, 8080];

    /// <param name="start">Timestamp of the first packet.</param>
    /// <param name="span">Time the packets cover; they run in order with up to <paramref name="jitterNs"/> of disorder.</param>
    /// <param name="dstBase">The third octet of the 203.0.x.0/24 the targets live in (keeps sensors' targets apart when wanted).</param>
    public static List<GeneratedPacket> Generate(int seed, int count, long start, long span, long jitterNs = 3_000_000_000, int dstBase = 113)
    {
        var random = new Random(seed);
        var packets = new List<GeneratedPacket>(count);
        for (int i = 0; i < count; i++)
        {
            long ts = start + (span * i / count) + (jitterNs == 0 ? 0 : random.NextInt64(-jitterNs, jitterNs + 1));
            ts -= ts % 1000; // pcap keeps microseconds
            packets.Add(One(random, ts, dstBase));
        }

        return packets;
    }

    /// <summary>A scan of one target port from <paramref name="sources"/> distinct sources: one row with a large distinct count.</summary>
    public static List<GeneratedPacket> Scan(int sources, long start, string target = "203.0.113.250", ushort port = 5900)
    {
        var packets = new List<GeneratedPacket>(sources);
        for (int i = 0; i < sources; i++)
        {
            string src = $"100.{64 + (i >> 16)}.{(i >> 8) & 0xFF}.{i & 0xFF}";
            byte[] ip = B.Ipv4(src, target, 6, B.Tcp(40000, port, B.Syn));
            packets.Add(Make(ip, start + (i * 1000L), src, target, 6, TrafficClass.TcpSyn, port));
        }

        return packets;
    }

    private static GeneratedPacket One(Random random, long ts, int dstBase)
    {
        bool v6 = random.Next(6) == 0;
        string src = v6 ? $"2001:db8:{random.Next(40):x}::{random.Next(1, 5):x}" : $"198.{18 + random.Next(2)}.{random.Next(3)}.{random.Next(1, 60)}";
        string dst = v6 ? $"2001:db8:ffff::{random.Next(1, 4):x}" : $"203.0.{dstBase}.{random.Next(1, 13)}";
        ushort port = s_ports[random.Next(s_ports.Length)];
        ushort sport = (ushort)random.Next(1024, 65536);
        int kind = random.Next(14);
        byte[] Ip(byte protocol, byte[] payload) => v6
            ? B.Ipv6(src, dst, protocol, payload, 64, kind == 13 ? [B.HopByHop(), B.DestinationOptions()] : [])
            : B.Ipv4(src, dst, protocol, payload, ipId: (ushort)random.Next(65536));
        switch (kind)
        {
            case 0:
            case 1:
            case 2:
            case 13:
                return Make(Ip(6, B.Tcp(sport, port, B.Syn)), ts, src, dst, 6, TrafficClass.TcpSyn, port);
            case 3:
                return Make(Ip(6, B.Tcp(port, sport, B.Syn | B.Ack)), ts, src, dst, 6, TrafficClass.TcpSynAck, sport);
            case 4:
                return Make(Ip(6, B.Tcp(port, sport, B.Rst | B.Ack)), ts, src, dst, 6, TrafficClass.TcpRst, sport);
            case 5:
                return Make(Ip(6, B.Tcp(sport, port, B.Ack, payload: 30)), ts, src, dst, 6, TrafficClass.TcpOther, port);
            case 6:
                ushort udpPort = (ushort)(random.Next(2) == 0 ? 53 : 123);
                return Make(Ip(17, B.Udp(sport, udpPort, payload: random.Next(200))), ts, src, dst, 17, TrafficClass.Udp, udpPort);
            case 7:
                return v6
                    ? Make(Ip(58, B.Icmp(128, 0)), ts, src, dst, 58, TrafficClass.IcmpRequest, 128 * 256)
                    : Make(Ip(1, B.Icmp(8, 0)), ts, src, dst, 1, TrafficClass.IcmpRequest, 8 * 256);
            case 8:
                byte code = (byte)random.Next(4);
                return v6
                    ? Make(Ip(58, B.Icmp(1, code)), ts, src, dst, 58, TrafficClass.IcmpBackscatter, (ushort)(256 + code))
                    : Make(Ip(1, B.Icmp(3, code)), ts, src, dst, 1, TrafficClass.IcmpBackscatter, (ushort)((3 * 256) + code));
            case 9:
                return v6
                    ? Make(Ip(58, B.Icmp(135, 0)), ts, src, dst, 58, TrafficClass.IcmpOther, 135 * 256)
                    : Make(Ip(1, B.Icmp(9, 0)), ts, src, dst, 1, TrafficClass.IcmpOther, 9 * 256);
            case 10:
                byte[] fragment = v6
                    ? B.Ipv6(src, dst, 17, new byte[100], 64, B.FragmentHeader(100, false, 9))
                    : B.Ipv4(src, dst, 17, new byte[100], fragmentOffset: 100);
                return Make(fragment, ts, src, dst, 17, TrafficClass.Fragment, 0);
            case 11:
                return Make(Ip(47, new byte[36]), ts, src, dst, 47, TrafficClass.Other, 0);
            default:
                if (random.Next(2) == 0)
                {
                    // Cut by a 64-byte snaplen: the IP length still counts in full.
                    byte[] big = Ip(17, B.Udp(sport, 1900, payload: 500));
                    GeneratedPacket whole = Make(big, ts, src, dst, 17, TrafficClass.Udp, 1900);
                    return whole with { Packet = whole.Packet with { Frame = whole.Packet.Frame[..64], OriginalLength = whole.Packet.Frame.Length } };
                }

                byte[] arp = B.EthernetWithType(new byte[28], 0x0806);
                return new GeneratedPacket(new TestPacket(LinkTypes.Ethernet, arp, ts), null);
        }
    }

    private static GeneratedPacket Make(byte[] ip, long ts, string src, string dst, byte protocol, TrafficClass trafficClass, int port) =>
        new(new TestPacket(LinkTypes.Ethernet, B.Ethernet(ip), ts),
            new Expected(ts, IpAddr.Parse(src), IpAddr.Parse(dst), protocol, trafficClass, (ushort)port, (uint)ip.Length));

    public static byte[] Pcap(IEnumerable<GeneratedPacket> packets) => PcapWriter.Write(packets.Select(p => p.Packet), LinkTypes.Ethernet);
}
