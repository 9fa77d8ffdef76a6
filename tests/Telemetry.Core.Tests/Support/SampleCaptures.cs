using Telemetry.Core.Decode;
using Telemetry.Testing;
using B = Telemetry.Testing.PacketBuilder;

namespace Telemetry.Core.Tests.Support;

/// <summary>Frames and captures shared by the framing and ingest tests, with the packets a reader must return.</summary>
internal static class SampleCaptures
{
    /// <summary>2023-11-14T22:13:20Z: a multiple of every timestamp unit the tests use.</summary>
    public const long T0 = 1_700_000_000_000_000_000;

    /// <summary>An IP packet of packet number <paramref name="i"/>: TCP SYN, UDP over IPv6 or ICMP echo, with varying sizes.</summary>
    public static byte[] Ip(int i) => (i % 3) switch
    {
        0 => B.Ipv4($"198.51.100.{i % 250}", "203.0.113.5", 6, B.Tcp((ushort)(1000 + i), 23, B.Syn, payload: i % 5)),
        1 => B.Ipv6($"2001:db8::{i:x}", "2001:db8:ffff::5", 17, B.Udp(53, (ushort)(1000 + i), payload: i % 7)),
        _ => B.Ipv4($"192.0.2.{i % 250}", "203.0.113.9", 1, B.Icmp(8, 0, payload: i % 11)),
    };

    /// <summary>Packet <paramref name="i"/> in the framing of <paramref name="linkType"/>.</summary>
    public static byte[] Frame(int linkType, int i)
    {
        byte[] ip = Ip(i);
        return linkType switch
        {
            LinkTypes.Ethernet => B.Ethernet(ip),
            LinkTypes.Raw => ip,
            LinkTypes.Ipv4 => B.Ipv4("198.51.100.1", "203.0.113.1", 17, B.Udp(1, (ushort)i)),
            LinkTypes.Ipv6 => B.Ipv6("2001:db8::1", "2001:db8::2", 17, B.Udp(1, (ushort)i)),
            LinkTypes.LinuxSll => B.Sll(ip),
            LinkTypes.LinuxSll2 => B.Sll2(ip),
            LinkTypes.Null => B.Null(ip, loop: false, bigEndian: i % 2 == 0),
            LinkTypes.Loop => B.Null(ip, loop: true, bigEndian: true),
            _ => throw new ArgumentOutOfRangeException(nameof(linkType)),
        };
    }

    /// <summary>A timestamp exactly representable in the units of <paramref name="tsResol"/>.</summary>
    public static long Timestamp(byte tsResol, int i)
    {
        long unit = tsResol switch
        {
            3 => 1_000_000,
            6 => 1_000,
            0x94 => 1_953_125, // 10^9 / 2^9: the finest whole-nanosecond step of 2^-20 s
            _ => 1,
        };
        return T0 + (unit * ((i * 7_919L) + 13));
    }

    public static FramedPacket Expect(TestPacket packet, int linkType, int snapLen = int.MaxValue) =>
        new(packet.Frame[..Math.Min(snapLen, packet.Frame.Length)], packet.TimestampNs, packet.OriginalLength ?? packet.Frame.Length, linkType);

    /// <summary>
    /// Three sections (little, big, little endian) with eight interfaces of six link types and
    /// four timestamp resolutions, unknown blocks (one of 5000 bytes), simple packet blocks and
    /// cumulative interface statistics adding up to 21 drops.
    /// </summary>
    public static (byte[] Capture, List<FramedPacket> Expected) MultiSection()
    {
        var expected = new List<FramedPacket>();
        var w = new PcapNgWriter();
        int n = 0;

        // Writes an EPB for interface `id` and records what the reader must return.
        void Epb(NgInterface[] interfaces, int id, int? originalLength = null)
        {
            NgInterface iface = interfaces[id];
            byte[] frame = Frame(iface.LinkType, n);
            var packet = new TestPacket(iface.LinkType, frame, Timestamp(iface.TsResol, n), id, originalLength);
            n++;
            w.Enhanced(packet);
            expected.Add(Expect(packet, iface.LinkType));
        }

        void Spb(NgInterface[] interfaces)
        {
            byte[] frame = Frame(interfaces[0].LinkType, n++);
            long last = expected.FindLast(p => p.LinkType == interfaces[0].LinkType)!.TimestampNs;
            w.Simple(frame);
            expected.Add(new FramedPacket(frame, last, frame.Length, interfaces[0].LinkType));
        }

        NgInterface[] a = [new(LinkTypes.Ethernet), new(LinkTypes.Raw, TsResol: 9)];
        w.Section(false, a);
        Epb(a, 0);
        Epb(a, 1);
        w.Unknown(0xBAD, 40);
        w.Statistics(0, 5);
        Epb(a, 0, originalLength: 1514);
        Spb(a);
        w.Unknown(0x40000BAD, 5000);
        Epb(a, 1);

        NgInterface[] b =
        [
            new(LinkTypes.LinuxSll, TsResol: 3, TsOffsetSeconds: 1_600_000_000),
            new(LinkTypes.Null, TsResol: 0x94),
            new(LinkTypes.LinuxSll2, TsResol: 9),
            new(LinkTypes.Loop, SnapLen: 128),
        ];
        w.Section(true, b);
        Epb(b, 0);
        Epb(b, 1);
        Epb(b, 2);
        w.Unknown(0x0C0FFEE0, 12);
        w.Statistics(1, 7);
        Epb(b, 3);
        w.Statistics(1, 9);
        w.Statistics(0, 4);
        Spb(b);
        Epb(b, 1);

        NgInterface[] c = [new(LinkTypes.Ipv4), new(LinkTypes.Ipv6, TsResol: 9, TsOffsetSeconds: -3600)];
        w.Section(false, c);
        Epb(c, 1);
        Epb(c, 0);
        w.Statistics(0, 3);
        Epb(c, 1);
        return (w.ToArray(), expected);
    }
}
