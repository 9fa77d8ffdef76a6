using Telemetry.Testing;
using static Telemetry.Testing.PacketBuilder;

namespace Telemetry.Host.Tests;

/// <summary>An IP packet (no link layer) and its capture time.</summary>
internal sealed record IpPacket(long TimestampNs, byte[] Ip)
{
    public bool IsV6 => (Ip[0] >> 4) == 6;
}

/// <summary>
/// Deterministic darknet-like traffic covering every class of product.md and every header the
/// decoder reads: TCP flag combinations, UDP, ICMP and ICMPv6 types of each class, IPv4 options,
/// IPv4 and IPv6 fragments (first and non-first), IPv6 hop-by-hop / routing / destination-options
/// headers, other protocols (GRE, ESP, SCTP, 6in4, IPv6 no-next-header).
/// </summary>
internal static class TrafficMix
{
    public const long Second = 1_000_000_000;

    private static readonly ushort[] ScanPorts = [23, 22, 80, 443, 445, 2323, 3389, 5555, 8080, 37215];
    private static readonly ushort[] UdpPorts = [53, 123, 161, 1900, 5060, 11211];

    /// <summary><paramref name="count"/> packets with sorted timestamps in [start, start + span).</summary>
    public static List<IpPacket> Generate(int seed, long startNs, long spanNs, int count, bool? v6 = null)
    {
        var random = new Random(seed);
        var times = Enumerable.Range(0, count).Select(_ => startNs + random.NextInt64(spanNs)).Order().ToList();
        var packets = new List<IpPacket>(count);
        foreach (long ts in times)
        {
            bool six = v6 ?? random.Next(3) == 0;
            packets.Add(new IpPacket(ts, six ? MakeV6(random) : MakeV4(random)));
        }

        return packets;
    }

    /// <summary>
    /// One target probed by many sources and one source sweeping many targets within one minute:
    /// thousands of distinct sources and targets in one row, which must still be counted exactly.
    /// </summary>
    public static List<IpPacket> Hotspots(long startNs)
    {
        var packets = new List<IpPacket>();
        for (int i = 0; i < 5000; i++)
        {
            packets.Add(new IpPacket(startNs + (i * (Second / 200)), Ipv4($"100.64.{i / 250}.{(i % 250) + 1}", "198.18.0.250", 6, Tcp((ushort)(30000 + i), 23, Syn, seq: 0xC6_12_00_FA))));
        }

        for (int i = 0; i < 4500; i++)
        {
            packets.Add(new IpPacket(startNs + (i * (Second / 200)) + 1234, Ipv4("203.0.113.77", $"198.18.{1 + (i / 250)}.{(i % 250) + 1}", 6, Tcp(61000, 445, Syn))));
        }

        return [.. packets.OrderBy(p => p.TimestampNs)];
    }

    private static string V4Source(Random r) => r.Next(3) switch
    {
        0 => $"203.0.113.{r.Next(1, 60)}",
        1 => $"192.0.2.{r.Next(1, 40)}",
        _ => $"100.64.{r.Next(0, 4)}.{r.Next(1, 20)}",
    };

    private static string V4Target(Random r) => $"198.18.0.{r.Next(1, 41)}";

    private static string V6Source(Random r) => $"2001:db8:{r.Next(1, 6):x}::{r.Next(1, 30):x}";

    private static string V6Target(Random r) => $"2001:db8:dead::{r.Next(1, 25):x}";

    private static byte[] MakeV4(Random r)
    {
        string src = V4Source(r), dst = V4Target(r);
        ushort id = (ushort)r.Next(65536);
        switch (r.Next(20))
        {
            case < 6:
                return Ipv4(src, dst, 6, Tcp((ushort)r.Next(1024, 65535), ScanPorts[r.Next(ScanPorts.Length)], r.Next(8) == 0 ? (byte)(Syn | Fin) : Syn,
                    seq: (uint)r.Next(), window: r.Next(2) == 0 ? (ushort)1024 : (ushort)65535, options: r.Next(3) == 0 ? [2, 4, 5, 180] : null),
                    ipId: r.Next(4) == 0 ? (ushort)54321 : id, ttl: (byte)r.Next(30, 256));
            case 6:
                return Ipv4(src, dst, 6, Tcp((ushort)(r.Next(2) == 0 ? 80 : 443), (ushort)r.Next(1024, 65535), Syn | Ack), ipId: id);
            case 7:
                return Ipv4(src, dst, 6, Tcp((ushort)(r.Next(2) == 0 ? 80 : 443), (ushort)r.Next(1024, 65535), r.Next(2) == 0 ? Rst : (byte)(Rst | Ack)), ipId: id);
            case 8:
                {
                    byte[] flags = [Ack, Fin, 0, Fin | Psh | Urg, Fin | Ack, Psh | Ack, Syn | Rst];
                    return Ipv4(src, dst, 6, Tcp((ushort)r.Next(1024, 65535), ScanPorts[r.Next(ScanPorts.Length)], flags[r.Next(flags.Length)], payload: r.Next(0, 40)), ipId: id);
                }

            case 9 or 10:
                return Ipv4(src, dst, 17, Udp((ushort)r.Next(1024, 65535), r.Next(4) == 0 ? (ushort)r.Next(1024, 65535) : UdpPorts[r.Next(UdpPorts.Length)], payload: r.Next(0, 120)), ipId: id);
            case 11:
                {
                    byte[] types = [8, 13, 15, 17];
                    return Ipv4(src, dst, 1, Icmp(types[r.Next(types.Length)], 0, 12), ipId: id);
                }

            case 12:
                {
                    byte[] types = [0, 3, 3, 3, 4, 5, 11, 12, 14, 16, 18];
                    byte type = types[r.Next(types.Length)];
                    return Ipv4(src, dst, 1, Icmp(type, type == 3 ? (byte)r.Next(0, 14) : type == 11 ? (byte)r.Next(0, 2) : (byte)0, 28), ipId: id);
                }

            case 13:
                {
                    byte[] types = [9, 10, 30, 42, 6];
                    return Ipv4(src, dst, 1, Icmp(types[r.Next(types.Length)], 0, 8), ipId: id);
                }

            case 14:
                // First fragment: carries the transport header, so it is classified by it.
                return r.Next(2) == 0
                    ? Ipv4(src, dst, 6, Tcp((ushort)r.Next(1024, 65535), 80, Syn, payload: 24), ipId: id, moreFragments: true)
                    : Ipv4(src, dst, 17, Udp(53, 53, payload: 64), ipId: id, moreFragments: true);
            case 15:
                return Ipv4(src, dst, r.Next(2) == 0 ? (byte)6 : (byte)17, new byte[8 * r.Next(1, 6)], ipId: id, fragmentOffset: r.Next(1, 200), moreFragments: r.Next(2) == 0);
            case 16:
                // IPv4 options: NOPs, or a record-route option.
                return Ipv4(src, dst, 6, Tcp((ushort)r.Next(1024, 65535), 23, Syn), ipId: id, options: r.Next(2) == 0 ? [1, 1, 1, 0] : [7, 7, 4, 0, 0, 0, 0]);
            case 17:
                {
                    byte[] protocols = [47, 50, 132];
                    return Ipv4(src, dst, protocols[r.Next(protocols.Length)], new byte[16 + (4 * r.Next(4))], ipId: id);
                }

            case 18:
                // 6in4: protocol 41 counts as "other", whatever it carries.
                return Ipv4(src, dst, 41, Ipv6(V6Source(r), V6Target(r), 6, Tcp(1234, 443, Syn)), ipId: id);
            default:
                return Ipv4(src, dst, 17, Udp((ushort)r.Next(1024, 65535), 5060, payload: 200), ipId: id, ttl: 255);
        }
    }

    private static byte[] MakeV6(Random r)
    {
        string src = V6Source(r), dst = V6Target(r);
        var routing = new Extension(43, [0, 0, 0, 0, 0, 0, 0, 0]); // type 0, segments left 0
        switch (r.Next(14))
        {
            case < 4:
                return Ipv6(src, dst, 6, Tcp((ushort)r.Next(1024, 65535), ScanPorts[r.Next(ScanPorts.Length)], Syn, seq: (uint)r.Next()));
            case 4:
                return Ipv6(src, dst, 6, Tcp(443, (ushort)r.Next(1024, 65535), (byte)(r.Next(3) switch { 0 => Syn | Ack, 1 => Rst, _ => Ack })));
            case 5:
                return Ipv6(src, dst, 17, Udp((ushort)r.Next(1024, 65535), UdpPorts[r.Next(UdpPorts.Length)], payload: r.Next(0, 80)));
            case 6:
                {
                    byte[] types = [128, 128, 129, 1, 2, 3, 4, 133, 135, 143];
                    byte type = types[r.Next(types.Length)];
                    return Ipv6(src, dst, 58, Icmp(type, type is 1 or 3 ? (byte)r.Next(0, 4) : (byte)0, type < 128 ? 48 : 16), hopLimit: 255);
                }

            case 7:
                return Ipv6(src, dst, 6, Tcp((ushort)r.Next(1024, 65535), 22, Syn), 64, HopByHop(), routing, DestinationOptions());
            case 8:
                return Ipv6(src, dst, 17, Udp(5353, 5353, payload: 30), 64, DestinationOptions());
            case 9:
                return Ipv6(src, dst, 58, Icmp(128, 0, 8), 64, HopByHop());
            case 10:
                return Ipv6(src, dst, 17, Udp(4000, 53, payload: 40), 64, FragmentHeader(0, true, (uint)r.Next()));
            case 11:
                return Ipv6(src, dst, r.Next(2) == 0 ? (byte)17 : (byte)6, new byte[8 * r.Next(1, 5)], 64, FragmentHeader(r.Next(1, 500), r.Next(2) == 0, (uint)r.Next()));
            case 12:
                return Ipv6(src, dst, 59, []);
            default:
                return Ipv6(src, dst, 6, Tcp((ushort)r.Next(1024, 65535), 23, Fin | Psh | Urg), 64, HopByHop());
        }
    }
}

/// <summary>One test capture file, the oracle tshark derives from it, and what was written into it.</summary>
internal sealed record CaptureFile(string Name, string Path, byte[] Bytes, int Records, int NonIp, TsharkCapture Oracle);

/// <summary>
/// The capture files of the end-to-end tests: every pcap magic, pcapng in both byte orders with
/// several sections and interfaces (and SPB, ISB and unknown blocks), gzip of pcap and pcapng
/// (recognised by content: the names do not say gzip), and every supported link type.
/// Each file covers its own two minutes, in order, so windows never straddle files.
/// </summary>
internal sealed class CaptureSet
{
    /// <summary>2025-11-20 00:00:00 UTC.</summary>
    public const long T0 = 1_763_596_800 * TrafficMix.Second;

    private CaptureSet(List<CaptureFile> files) => Files = files;

    public List<CaptureFile> Files { get; }

    public CaptureFile this[string name] => Files.Single(f => f.Name == name);

    public static async Task<CaptureSet> CreateAsync(string directory)
    {
        var written = new List<(string Name, byte[] Bytes, int Records, int NonIp)>();
        long Start(int index) => T0 + (index * 180 * TrafficMix.Second);
        long span = 110 * TrafficMix.Second;

        // a: pcap, microseconds, little-endian; Ethernet untagged, 802.1Q, and 802.1ad + 802.1Q stacked;
        // ARP frames (not IP) and snaplen-cut frames (bytes still come from the IP header).
        {
            var packets = TrafficMix.Generate(1, Start(0), span, 700).Concat(TrafficMix.Hotspots(Start(0) + (30 * TrafficMix.Second))).OrderBy(p => p.TimestampNs).ToList();
            var records = new List<TestPacket>();
            var random = new Random(100);
            int nonIp = 0;
            foreach (IpPacket p in packets)
            {
                byte[] frame = (records.Count % 3) switch
                {
                    0 => Ethernet(p.Ip),
                    1 => Ethernet(p.Ip, 0x8100),
                    _ => Ethernet(p.Ip, 0x88A8, 0x8100),
                };
                if (random.Next(10) == 0)
                {
                    records.Add(new TestPacket(1, EthernetWithType(new byte[28], 0x0806), p.TimestampNs));
                    nonIp++;
                }

                // Some UDP datagrams cut after their header, as a short snaplen would: the byte counts
                // still come from the IP header.
                int ihl = (p.Ip[0] & 0x0F) * 4;
                bool unfragmentedUdp = !p.IsV6 && p.Ip[9] == 17 && (p.Ip[6] & 0x3F) == 0 && p.Ip[7] == 0;
                int udpPayload = p.Ip.Length - ihl - 8;
                records.Add(unfragmentedUdp && udpPayload > 4 && random.Next(3) == 0
                    ? new TestPacket(1, frame[..(frame.Length - udpPayload + 2)], p.TimestampNs, OriginalLength: frame.Length)
                    : new TestPacket(1, frame, p.TimestampNs));
            }

            written.Add(("a-ethernet.pcap", PcapWriter.Write(records, 1), records.Count, nonIp));
        }

        // b: pcap, nanoseconds, big-endian; raw IP (101).
        {
            var packets = TrafficMix.Generate(2, Start(1), span, 600);
            written.Add(("b-raw.pcap", PcapWriter.Write(packets.Select(p => new TestPacket(101, p.Ip, p.TimestampNs)), 101, nanosecond: true, bigEndian: true), packets.Count, 0));
        }

        // c: pcap, microseconds, big-endian; Linux SLL (113).
        {
            var packets = TrafficMix.Generate(3, Start(2), span, 600);
            written.Add(("c-sll.pcap", PcapWriter.Write(packets.Select(p => new TestPacket(113, Sll(p.Ip), p.TimestampNs)), 113, bigEndian: true), packets.Count, 0));
        }

        // d: pcap, nanoseconds, little-endian; LINKTYPE_IPV4 (228).
        {
            var packets = TrafficMix.Generate(4, Start(3), span, 500, v6: false);
            written.Add(("d-ipv4.pcap", PcapWriter.Write(packets.Select(p => new TestPacket(228, p.Ip, p.TimestampNs)), 228, nanosecond: true), packets.Count, 0));
        }

        // e: pcap, microseconds, little-endian; LINKTYPE_IPV6 (229).
        {
            var packets = TrafficMix.Generate(5, Start(4), span, 500, v6: true);
            written.Add(("e-ipv6.pcap", PcapWriter.Write(packets.Select(p => new TestPacket(229, p.Ip, p.TimestampNs)), 229), packets.Count, 0));
        }

        // f: pcapng, two sections. Little-endian: Ethernet (µs) and SLL2 (ns). Big-endian: NULL
        // (2^-20 s units) and LOOP (ms, with if_tsoffset). Plus simple packet blocks, interface
        // statistics and blocks the reader must skip.
        {
            var packets = TrafficMix.Generate(6, Start(5), span, 800);
            var ng = new PcapNgWriter();
            int records = 0;
            ng.Section(false, new NgInterface(1), new NgInterface(276, 9)).Unknown(0x40000001, 36);
            int half = packets.Count / 2;
            for (int i = 0; i < half; i++)
            {
                IpPacket p = packets[i];
                if (i % 2 == 0)
                {
                    ng.Enhanced(new TestPacket(1, i % 4 == 0 ? Ethernet(p.Ip) : Ethernet(p.Ip, 0x8100), p.TimestampNs, 0));
                }
                else if (i % 7 == 3 && i > 0)
                {
                    // No timestamp of its own: it takes interface 0's last one (the previous even packet's).
                    ng.Simple(Ethernet(p.Ip));
                }
                else
                {
                    ng.Enhanced(new TestPacket(276, Sll2(p.Ip), p.TimestampNs, 1));
                }

                records++;
                if (i == half / 2)
                {
                    ng.Statistics(0, 17).Unknown(0x80000001, 64);
                }
            }

            ng.Section(true, new NgInterface(0, 0x80 | 20), new NgInterface(108, 3, 3600));
            uint[] families = [24, 28, 30];
            for (int i = half; i < packets.Count; i++)
            {
                IpPacket p = packets[i];
                ng.Enhanced(i % 2 == 0
                    ? new TestPacket(0, Null(p.Ip, loop: false, bigEndian: true, families[i % 3]), p.TimestampNs, 0)
                    : new TestPacket(108, Null(p.Ip, loop: true, bigEndian: true), p.TimestampNs, 1));
                records++;
            }

            ng.Statistics(1, 4);
            written.Add(("f-multi.pcapng", ng.ToArray(), records, 0));
        }

        // g: gzip of a pcap (µs, little-endian) of BSD NULL frames in little-endian order.
        {
            var packets = TrafficMix.Generate(7, Start(6), span, 500);
            uint[] families = [24, 28, 30];
            byte[] pcap = PcapWriter.Write(packets.Select((p, i) => new TestPacket(0, Null(p.Ip, loop: false, bigEndian: false, families[i % 3]), p.TimestampNs)), 0);
            written.Add(("g-null.bin", Gzip.Compress(pcap), packets.Count, 0));
        }

        // h: gzip of a big-endian pcapng with raw IP interfaces (101, 228, 229) and a nanosecond one.
        {
            var packets = TrafficMix.Generate(8, Start(7), span, 500);
            var ng = new PcapNgWriter().Section(true, new NgInterface(101), new NgInterface(228, 9), new NgInterface(229));
            foreach ((IpPacket p, int i) in packets.Select((p, i) => (p, i)))
            {
                ng.Enhanced(i % 2 == 0 ? new TestPacket(101, p.Ip, p.TimestampNs, 0) : p.IsV6 ? new TestPacket(229, p.Ip, p.TimestampNs, 2) : new TestPacket(228, p.Ip, p.TimestampNs, 1));
            }

            written.Add(("h-raw-be.cap", Gzip.Compress(ng.ToArray()), packets.Count, 0));
        }

        var files = new List<CaptureFile>();
        foreach ((string name, byte[] bytes, int records, int nonIp) in written)
        {
            string path = System.IO.Path.Combine(directory, name);
            await File.WriteAllBytesAsync(path, bytes);
            files.Add(new CaptureFile(name, path, bytes, records, nonIp, null!));
        }

        // tshark is the slow part: two at a time (one per core).
        TsharkCapture[] oracles = await ParallelMap(files, f => Tshark.ReadAsync(f.Path), 2);
        return new CaptureSet([.. files.Select((f, i) => f with { Oracle = oracles[i] })]);
    }

    private static async Task<TResult[]> ParallelMap<T, TResult>(List<T> items, Func<T, Task<TResult>> map, int parallelism)
    {
        var results = new TResult[items.Count];
        using var gate = new SemaphoreSlim(parallelism);
        await Task.WhenAll(items.Select(async (item, i) =>
        {
            await gate.WaitAsync();
            try
            {
                results[i] = await map(item);
            }
            finally
            {
                gate.Release();
            }
        }));
        return results;
    }
}
