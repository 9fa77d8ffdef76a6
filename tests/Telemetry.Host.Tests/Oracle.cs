using System.Globalization;
using System.Net;
using System.Text;
using Telemetry.Testing;

namespace Telemetry.Host.Tests;

/// <summary>One IP packet as tshark dissects it, classified by the table in product.md.</summary>
/// <param name="Window">Start of its minute, Unix seconds.</param>
/// <param name="Source">The 16-byte address (IPv4 mapped) in hex.</param>
internal readonly record struct OraclePacket(long Window, string Source, string Destination, byte Protocol, ushort Port, string Class, long IpBytes);

/// <summary>What tshark saw in one capture: every frame, and the IP packets among them.</summary>
internal sealed record TsharkCapture(int Frames, int NonIpFrames, List<OraclePacket> Packets);

/// <summary>
/// The independent oracle: tshark (Wireshark's dissectors, from Debian) reads the capture, and
/// this class only applies product.md's classification table to the fields tshark prints.
/// Reassembly is off (non-first fragments stay fragments); for ICMP errors, which quote an inner
/// IP header, the first occurrence of each field is the outer one.
/// </summary>
internal static class Tshark
{
    private static readonly string[] Fields =
    [
        "frame.interface_id", "frame.time_epoch", "frame.protocols",
        "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
        "ip.proto", "ipv6.nxt", "ipv6.hopopts.nxt", "ipv6.routing.nxt", "ipv6.dstopts.nxt", "ipv6.fraghdr.nxt",
        "ip.len", "ipv6.plen", "ip.frag_offset", "ipv6.fraghdr.offset",
        "tcp.flags", "tcp.dstport", "udp.dstport", "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
    ];

    public static async Task<TsharkCapture> ReadAsync(string path)
    {
        var arguments = new List<string> { "-n", "-r", path, "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f" };
        foreach (string field in Fields)
        {
            arguments.Add("-e");
            arguments.Add(field);
        }

        ProcessResult result = await TestProcess.RunAsync("tshark", arguments, TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, $"tshark failed on {path}: {result}");
        var packets = new List<OraclePacket>();
        var lastTime = new Dictionary<string, long>(StringComparer.Ordinal);
        int frames = 0, nonIp = 0;
        foreach (string line in result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            frames++;
            var f = new Dictionary<string, string>(StringComparer.Ordinal);
            string[] values = line.Split('\t');
            Assert.True(values.Length == Fields.Length, $"tshark printed {values.Length} fields, not {Fields.Length}: {line}");
            for (int i = 0; i < Fields.Length; i++)
            {
                f[Fields[i]] = values[i];
            }

            // A simple packet block has no timestamp; the aggregator gives it its interface's last one.
            string iface = f["frame.interface_id"];
            long seconds;
            if (f["frame.time_epoch"].Length == 0)
            {
                Assert.True(lastTime.TryGetValue(iface, out seconds), $"frame {frames} of {path} has no timestamp and no earlier one on its interface");
            }
            else
            {
                seconds = long.Parse(f["frame.time_epoch"].Split('.')[0], CultureInfo.InvariantCulture);
                lastTime[iface] = seconds;
            }

            OraclePacket? packet = Classify(f, seconds - (seconds % 60));
            if (packet is null)
            {
                nonIp++;
            }
            else
            {
                packets.Add(packet.Value);
            }
        }

        return new TsharkCapture(frames, nonIp, packets);
    }

    private static OraclePacket? Classify(Dictionary<string, string> f, long window)
    {
        string[] layers = f["frame.protocols"].Split(':');
        int ip = Array.FindIndex(layers, l => l is "ip" or "ipv6");
        if (ip < 0)
        {
            return null;
        }

        string src, dst;
        byte protocol;
        long bytes;
        bool nonFirstFragment;
        if (layers[ip] == "ip")
        {
            src = Hex(f["ip.src"]);
            dst = Hex(f["ip.dst"]);
            protocol = byte.Parse(f["ip.proto"], CultureInfo.InvariantCulture);
            bytes = long.Parse(f["ip.len"], CultureInfo.InvariantCulture);
            nonFirstFragment = Number(f["ip.frag_offset"]) != 0;
        }
        else
        {
            src = Hex(f["ipv6.src"]);
            dst = Hex(f["ipv6.dst"]);
            bytes = long.Parse(f["ipv6.plen"], CultureInfo.InvariantCulture) + 40;

            // The transport protocol is the last next-header of the outer header chain.
            string last = "ipv6";
            for (int i = ip + 1; i < layers.Length && layers[i].StartsWith("ipv6.", StringComparison.Ordinal); i++)
            {
                last = layers[i];
            }

            protocol = byte.Parse(f[last + ".nxt"], CultureInfo.InvariantCulture);
            nonFirstFragment = layers.Skip(ip + 1).TakeWhile(l => l.StartsWith("ipv6.", StringComparison.Ordinal)).Contains("ipv6.fraghdr")
                && Number(f["ipv6.fraghdr.offset"]) != 0;
        }

        (string cls, int port) = nonFirstFragment ? ("fragment", 0) : protocol switch
        {
            6 => (TcpClass(Convert.ToInt32(f["tcp.flags"], 16)), Number(f["tcp.dstport"])),
            17 => ("udp", Number(f["udp.dstport"])),
            1 => (IcmpClass(Number(f["icmp.type"])), (Number(f["icmp.type"]) * 256) + Number(f["icmp.code"])),
            58 => (Icmpv6Class(Number(f["icmpv6.type"])), (Number(f["icmpv6.type"]) * 256) + Number(f["icmpv6.code"])),
            _ => ("other", 0),
        };
        return new OraclePacket(window, src, dst, protocol, (ushort)port, cls, bytes);
    }

    // product.md: tcp_syn = SYN set, ACK and RST clear; tcp_synack = SYN and ACK set, RST clear;
    // tcp_rst = RST set; tcp_other = anything else.
    private static string TcpClass(int flags)
    {
        bool syn = (flags & 0x02) != 0, rst = (flags & 0x04) != 0, ack = (flags & 0x10) != 0;
        return rst ? "tcp_rst" : syn && !ack ? "tcp_syn" : syn && ack ? "tcp_synack" : "tcp_other";
    }

    private static string IcmpClass(int type) => type switch
    {
        8 or 13 or 15 or 17 => "icmp_request",
        0 or 3 or 4 or 5 or 11 or 12 or 14 or 16 or 18 => "icmp_backscatter",
        _ => "icmp_other",
    };

    private static string Icmpv6Class(int type) => type switch
    {
        128 => "icmp_request",
        1 or 2 or 3 or 4 or 129 => "icmp_backscatter",
        _ => "icmp_other",
    };

    private static int Number(string text) => text.Length == 0 ? 0 : int.Parse(text, CultureInfo.InvariantCulture);

    /// <summary>The 16-byte form the tables store (IPv4 as ::ffff:a.b.c.d), in hex.</summary>
    public static string Hex(string address) => Convert.ToHexString(IPAddress.Parse(address).MapToIPv6().GetAddressBytes());
}

/// <summary>Additive counters and distinct sets of one rollup row.</summary>
internal sealed class Cell
{
    public long Packets;
    public long Bytes;
    public long Distinct1;
    public long Distinct2;
    public HashSet<string> Set1 = new(StringComparer.Ordinal);
    public HashSet<string> Set2 = new(StringComparer.Ordinal);
}

/// <summary>The three rollup tables, keyed as in ClickHouse; from the oracle or read back with sum() … GROUP BY.</summary>
internal sealed class Rollups
{
    public Dictionary<string, Cell> Targets { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, Cell> Ports { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, Cell> Sources { get; } = new(StringComparer.Ordinal);

    public long Packets => Ports.Values.Sum(c => c.Packets);

    public long Bytes => Ports.Values.Sum(c => c.Bytes);

    /// <summary>What the tables must hold for these packets, each repeated <paramref name="times"/> (distinct counts do not multiply).</summary>
    public static Rollups FromOracle(IEnumerable<OraclePacket> packets, int times = 1)
    {
        var rollups = new Rollups();
        foreach (OraclePacket p in packets)
        {
            string port = $"{p.Protocol}|{p.Port}|{p.Class}";
            Cell target = Get(rollups.Targets, $"{p.Window}|{p.Destination}|{port}");
            target.Packets += times;
            target.Bytes += p.IpBytes * times;
            target.Set1.Add(p.Source);
            Cell ports = Get(rollups.Ports, $"{p.Window}|{port}");
            ports.Packets += times;
            ports.Bytes += p.IpBytes * times;
            ports.Set1.Add(p.Source);
            ports.Set2.Add(p.Destination);
            Cell source = Get(rollups.Sources, $"{p.Window}|{p.Source}|{port}");
            source.Packets += times;
            source.Bytes += p.IpBytes * times;
            source.Set1.Add(p.Destination);
        }

        foreach (Cell cell in rollups.Targets.Values.Concat(rollups.Ports.Values).Concat(rollups.Sources.Values))
        {
            cell.Distinct1 = cell.Set1.Count;
            cell.Distinct2 = cell.Set2.Count;
        }

        return rollups;
    }

    public static async Task<Rollups> FromClickHouseAsync(ClickHouseServer server, string database, string sensor)
    {
        var rollups = new Rollups();
        string where = $"WHERE sensor = '{sensor}'";
        foreach (string[] r in await server.RowsAsync(
            $"SELECT toUInt32(window_start), hex(dst_ip), proto, dst_port, class, sum(packets), sum(ip_bytes), sum(sources) FROM {database}.target_port_1m {where} GROUP BY window_start, dst_ip, proto, dst_port, class"))
        {
            Set(rollups.Targets, string.Join('|', r[..5]), r[5], r[6], r[7], "0");
        }

        foreach (string[] r in await server.RowsAsync(
            $"SELECT toUInt32(window_start), proto, dst_port, class, sum(packets), sum(ip_bytes), sum(sources), sum(targets) FROM {database}.port_1m {where} GROUP BY window_start, proto, dst_port, class"))
        {
            Set(rollups.Ports, string.Join('|', r[..4]), r[4], r[5], r[6], r[7]);
        }

        foreach (string[] r in await server.RowsAsync(
            $"SELECT toUInt32(window_start), hex(src_ip), proto, dst_port, class, sum(packets), sum(ip_bytes), sum(targets) FROM {database}.source_1m {where} GROUP BY window_start, src_ip, proto, dst_port, class"))
        {
            Set(rollups.Sources, string.Join('|', r[..5]), r[5], r[6], r[7], "0");
        }

        return rollups;
    }

    /// <summary>
    /// Asserts the tables match: the same keys, exact packets and bytes, and (when
    /// <paramref name="distinct"/>) exact distinct counts.
    /// </summary>
    public static void AssertEqual(Rollups expected, Rollups actual, bool distinct, string context)
    {
        var problems = new StringBuilder();
        Compare("target_port_1m", expected.Targets, actual.Targets, distinct, problems);
        Compare("port_1m", expected.Ports, actual.Ports, distinct, problems);
        Compare("source_1m", expected.Sources, actual.Sources, distinct, problems);

        Assert.True(problems.Length == 0, $"{context}: ClickHouse differs from the tshark oracle ({expected.Packets} packets expected, {actual.Packets} stored):\n{problems}");
    }

    private static void Compare(
        string table, Dictionary<string, Cell> expected, Dictionary<string, Cell> actual, bool distinct, StringBuilder problems)
    {
        int reported = 0;
        void Report(string line)
        {
            if (reported++ < 15)
            {
                problems.AppendLine($"  {table} {line}");
            }
        }

        foreach ((string key, Cell want) in expected)
        {
            if (!actual.TryGetValue(key, out Cell? got))
            {
                Report($"missing row {key}: {want.Packets} packets");
                continue;
            }

            if (got.Packets != want.Packets || got.Bytes != want.Bytes)
            {
                Report($"{key}: packets {got.Packets} bytes {got.Bytes}, expected {want.Packets} / {want.Bytes}");
            }

            if (distinct)
            {
                // Distinct counts are exact at every size.
                if (want.Distinct1 != got.Distinct1 || want.Distinct2 != got.Distinct2)
                {
                    Report($"{key}: distinct {got.Distinct1}/{got.Distinct2}, expected exactly {want.Distinct1}/{want.Distinct2}");
                }
            }
        }

        foreach ((string key, Cell got) in actual)
        {
            if (!expected.ContainsKey(key))
            {
                Report($"unexpected row {key}: {got.Packets} packets");
            }
        }

        if (reported > 15)
        {
            problems.AppendLine($"  {table}: {reported - 15} more differences");
        }
    }

    private static Cell Get(Dictionary<string, Cell> cells, string key)
    {
        if (!cells.TryGetValue(key, out Cell? cell))
        {
            cell = new Cell();
            cells.Add(key, cell);
        }

        return cell;
    }

    private static void Set(Dictionary<string, Cell> cells, string key, string packets, string bytes, string distinct1, string distinct2) =>
        cells.Add(key, new Cell
        {
            Packets = long.Parse(packets, CultureInfo.InvariantCulture),
            Bytes = long.Parse(bytes, CultureInfo.InvariantCulture),
            Distinct1 = long.Parse(distinct1, CultureInfo.InvariantCulture),
            Distinct2 = long.Parse(distinct2, CultureInfo.InvariantCulture),
        });
}
