using System.Globalization;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;
using Telemetry.Core.Tests.Support;
using Telemetry.Testing;
using B = Telemetry.Testing.PacketBuilder;

namespace Telemetry.Core.Tests.Decode;

/// <summary>Frames and decodes a capture of every link type and class, and checks each packet against tshark's reading of it.</summary>
public class TsharkOracleTests
{
    private static readonly NgInterface[] s_interfaces =
    [
        new(LinkTypes.Ethernet), new(LinkTypes.Raw, TsResol: 9), new(LinkTypes.LinuxSll), new(LinkTypes.LinuxSll2, TsResol: 9),
        new(LinkTypes.Null, TsResol: 9), new(LinkTypes.Loop), new(LinkTypes.Ipv4), new(LinkTypes.Ipv6),
    ];

    private static readonly string[] s_fields =
    [
        "frame.interface_id", "frame.time_epoch", "ip.src", "ip.dst", "ip.len", "ip.proto", "ip.frag_offset",
        "ipv6.src", "ipv6.dst", "ipv6.plen", "ipv6.fraghdr.offset", "ipv6.fraghdr.nxt", "tcp.dstport", "tcp.flags",
        "udp.dstport", "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
    ];

    /// <summary>Packet <paramref name="i"/> of the traffic mix, re-framed for interface <c>i % 8</c> (ARP stays on Ethernet).</summary>
    private static (int Interface, byte[] Frame, int? OriginalLength) Reframe(int i, TestPacket packet)
    {
        byte[] ip = packet.Frame[14..];
        bool isIp = packet.Frame[12] is 0x08 or 0x86 && packet.Frame[13] is 0x00 or 0xDD;
        bool v6 = packet.Frame[12] == 0x86;
        int id = isIp ? i % s_interfaces.Length : 0;
        if ((id == 6 && v6) || (id == 7 && !v6))
        {
            id = 1;
        }

        byte[] frame = id switch
        {
            0 => (i % 3) switch { 0 => packet.Frame, 1 => B.Ethernet(ip, 0x8100), _ => B.Ethernet(ip, 0x88A8, 0x8100) },
            2 => B.Sll(ip),
            3 => B.Sll2(ip),
            4 => B.Null(ip, loop: false, bigEndian: i % 2 == 0, ipv6Family: (uint)(i % 4 == 1 ? 28 : 30)),
            5 => B.Null(ip, loop: true, bigEndian: true),
            _ => ip,
        };
        if (!isIp)
        {
            frame = packet.Frame;
        }

        int? original = packet.OriginalLength is int o ? o - packet.Frame.Length + frame.Length : null;
        return (id, frame, original);
    }

    /// <summary>The class product.md gives for what tshark saw.</summary>
    private static (TrafficClass Class, ushort Port) Classify(Dictionary<string, string> f)
    {
        if (Num(f, "ip.frag_offset") > 0 || Num(f, "ipv6.fraghdr.offset") > 0)
        {
            return (TrafficClass.Fragment, 0);
        }

        if (f["tcp.dstport"].Length > 0)
        {
            int flags = Convert.ToInt32(f["tcp.flags"], 16) & 0xFF;
            TrafficClass c = (flags & 0x04) != 0 ? TrafficClass.TcpRst
                : (flags & 0x12) == 0x02 ? TrafficClass.TcpSyn
                : (flags & 0x12) == 0x12 ? TrafficClass.TcpSynAck
                : TrafficClass.TcpOther;
            return (c, (ushort)Num(f, "tcp.dstport"));
        }

        if (f["udp.dstport"].Length > 0)
        {
            return (TrafficClass.Udp, (ushort)Num(f, "udp.dstport"));
        }

        foreach ((string prefix, int[] requests, int[] backscatter) in new[]
        {
            ("icmp", new[] { 8, 13, 15, 17 }, new[] { 0, 3, 4, 5, 11, 12, 14, 16, 18 }),
            ("icmpv6", [128], [1, 2, 3, 4, 129]),
        })
        {
            if (f[prefix + ".type"].Length > 0)
            {
                int type = Num(f, prefix + ".type");
                TrafficClass c = requests.Contains(type) ? TrafficClass.IcmpRequest : backscatter.Contains(type) ? TrafficClass.IcmpBackscatter : TrafficClass.IcmpOther;
                return (c, (ushort)((type * 256) + Num(f, prefix + ".code")));
            }
        }

        return (TrafficClass.Other, 0);
    }

    private static int Num(Dictionary<string, string> f, string name) => f[name].Length == 0 ? 0 : int.Parse(f[name], CultureInfo.InvariantCulture);

    private static long EpochNs(string text)
    {
        string[] parts = text.Split('.');
        return (long.Parse(parts[0], CultureInfo.InvariantCulture) * 1_000_000_000) + long.Parse(parts[1].PadRight(9, '0')[..9], CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Decode_EveryLinkTypeAndClass_AgreesWithTshark()
    {
        List<GeneratedPacket> traffic = Traffic.Generate(seed: 77, count: 1200, SampleCaptures.T0 + 123_456_000, 100_000_000_000);
        var writer = new PcapNgWriter().Section(false, s_interfaces);
        for (int i = 0; i < traffic.Count; i++)
        {
            (int id, byte[] frame, int? original) = Reframe(i, traffic[i].Packet);
            writer.Enhanced(new TestPacket(s_interfaces[id].LinkType, frame, traffic[i].Packet.TimestampNs, id, original));
        }

        byte[] capture = writer.ToArray();
        FeedResult framed = CaptureFeed.Read(capture);
        List<string[]> rows = await Tshark.FieldsAsync(capture, s_fields);

        Assert.Equal(traffic.Count, framed.Packets.Count);
        Assert.Equal(traffic.Count, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            Dictionary<string, string> f = s_fields.Select((name, k) => (name, value: k < rows[i].Length ? rows[i][k].Trim() : "")).ToDictionary(p => p.name, p => p.value);
            FramedPacket packet = framed.Packets[i];
            string context = $"frame {i + 1} ({packet})";
            Assert.True(s_interfaces[Num(f, "frame.interface_id")].LinkType == packet.LinkType, context);
            Assert.True(EpochNs(f["frame.time_epoch"]) == packet.TimestampNs, $"{context}: tshark time {f["frame.time_epoch"]}");

            var facts = default(PacketFacts);
            DecodeStatus status = PacketDecoder.Decode(packet.LinkType, packet.Data, ref facts);
            bool v4 = f["ip.src"].Length > 0;
            if (!v4 && f["ipv6.src"].Length == 0)
            {
                Assert.True(status != DecodeStatus.Ok, $"{context}: tshark sees no IP, decoder says {status}");
                continue;
            }

            Assert.True(status == DecodeStatus.Ok, $"{context}: {status}");
            (TrafficClass expectedClass, ushort expectedPort) = Classify(f);
            IpAddr src = IpAddr.Parse(v4 ? f["ip.src"] : f["ipv6.src"]);
            IpAddr dst = IpAddr.Parse(v4 ? f["ip.dst"] : f["ipv6.dst"]);
            uint bytes = (uint)(v4 ? Num(f, "ip.len") : Num(f, "ipv6.plen") + 40);
            Assert.True(
                (facts.Source, facts.Destination, facts.IpBytes, facts.Class, facts.Port) == (src, dst, bytes, expectedClass, expectedPort),
                $"{context}: decoder {facts.Source} > {facts.Destination} {facts.IpBytes} B {facts.Class} port {facts.Port}; " +
                $"tshark {src} > {dst} {bytes} B {expectedClass} port {expectedPort}");
            if (v4)
            {
                Assert.True(Num(f, "ip.proto") == facts.Protocol, context);
            }
        }
    }
}
