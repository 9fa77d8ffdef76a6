using System.Buffers.Binary;

namespace Telemetry.Host.Simulation;

/// <summary>
/// Synthesises darknet traffic as Ethernet frames: Mirai-style telnet scans, generic SYN
/// scans with and without options, ZMap and Masscan probes, SYN-ACK/RST and ICMP backscatter,
/// UDP probes, ICMP sweeps, some IPv6, VLAN tags and fragments. Deterministic for a seed.
/// <see cref="TrafficMix.Syn"/> writes only SYN probes to the scan ports (the keyspace-heavy
/// case the pmacctd comparison uses). A xoshiro256** generator instead of <see cref="Random"/>
/// keeps a frame at a few tens of nanoseconds, so 20 million packets take seconds.
/// </summary>
public sealed class DarknetTrafficGenerator
{
    private static readonly ushort[] s_scanPorts = [23, 22, 80, 443, 445, 3389, 8080, 2323, 5555, 6379, 1433, 3306, 21, 25, 8443];
    private static readonly ushort[] s_udpPorts = [53, 123, 161, 1900, 5060, 11211, 19, 137];
    private readonly FastRandom _random;
    private readonly uint _darknetBase;
    private readonly uint _darknetSize;
    private readonly uint[] _sources;
    private readonly TrafficMix _mix;

    public DarknetTrafficGenerator(uint darknetBase, int prefixLength, int sourceCount, int seed, TrafficMix mix = TrafficMix.Realistic)
    {
        _random = new FastRandom((ulong)seed);
        _mix = mix;
        _darknetSize = prefixLength >= 32 ? 1u : 1u << (32 - prefixLength);
        _darknetBase = darknetBase & ~(_darknetSize - 1);
        _sources = new uint[Math.Max(1, sourceCount)];
        for (int i = 0; i < _sources.Length; i++)
        {
            // Public-looking unicast sources outside the darknet.
            _sources[i] = (uint)_random.Next(0x0B000000, 0x7E000000) ^ (uint)_random.Next(0, 0xFFFF);
        }
    }

    /// <summary>The longest frame <see cref="Next"/> writes.</summary>
    public const int MaxFrameBytes = 128;

    /// <summary>Writes one frame into <paramref name="frame"/> and returns its length.</summary>
    public int Next(Span<byte> frame)
    {
        uint src = _sources[_random.Next(_sources.Length)];
        uint dst = _darknetBase + (uint)_random.NextInt64(_darknetSize);
        if (_mix == TrafficMix.Syn)
        {
            return Tcp(frame, src, dst, Pick(s_scanPorts), 0x02, seq: (uint)_random.Next(), ipId: (ushort)_random.Next(), window: 1024, options: false, vlan: false);
        }

        int kind = _random.Next(100);
        return kind switch
        {
            < 25 => Tcp(frame, src, dst, 23, 0x02, seq: dst, ipId: (ushort)_random.Next(), window: 14600, options: false, vlan: false),
            < 40 => Tcp(frame, src, dst, Pick(s_scanPorts), 0x02, seq: (uint)_random.Next(), ipId: (ushort)_random.Next(), window: 1024, options: true, vlan: false),
            < 48 => Tcp(frame, src, dst, Pick(s_scanPorts), 0x02, seq: (uint)_random.Next(), ipId: 54321, window: 65535, options: false, vlan: false),
            < 55 => Masscan(frame, src, dst),
            < 63 => Tcp(frame, src, dst, (ushort)_random.Next(1024, 65535), 0x12, seq: (uint)_random.Next(), ipId: (ushort)_random.Next(), window: 29200, options: false, vlan: false),
            < 68 => Tcp(frame, src, dst, (ushort)_random.Next(1024, 65535), 0x04, seq: (uint)_random.Next(), ipId: (ushort)_random.Next(), window: 0, options: false, vlan: true),
            < 70 => Tcp(frame, src, dst, Pick(s_scanPorts), 0x10, seq: (uint)_random.Next(), ipId: (ushort)_random.Next(), window: 512, options: false, vlan: false),
            < 80 => Udp(frame, src, dst, Pick(s_udpPorts)),
            < 86 => Icmp(frame, src, dst, 8, 0),
            < 90 => Icmp(frame, src, dst, 3, (byte)_random.Next(0, 4)),
            < 92 => Icmp(frame, src, dst, 11, 0),
            < 94 => Fragment(frame, src, dst),
            _ => Ipv6Syn(frame, src, dst),
        };
    }

    private ushort Pick(ushort[] ports) => ports[_random.Next(ports.Length)];

    private int Masscan(Span<byte> frame, uint src, uint dst)
    {
        ushort port = Pick(s_scanPorts);
        uint seq = (uint)_random.Next();
        ushort ipId = (ushort)((dst ^ port ^ seq) & 0xFFFF);
        return Tcp(frame, src, dst, port, 0x02, seq, ipId, window: 1024, options: false, vlan: false);
    }

    private static int Ethernet(Span<byte> frame, bool vlan, ushort etherType)
    {
        frame[..12].Fill(0x02);
        int offset = 12;
        if (vlan)
        {
            BinaryPrimitives.WriteUInt16BigEndian(frame[offset..], 0x8100);
            BinaryPrimitives.WriteUInt16BigEndian(frame[(offset + 2)..], 100);
            offset += 4;
        }

        BinaryPrimitives.WriteUInt16BigEndian(frame[offset..], etherType);
        return offset + 2;
    }

    private int Ipv4(Span<byte> ip, uint src, uint dst, byte protocol, int payloadLength, ushort ipId, ushort fragment)
    {
        ip[0] = 0x45;
        ip[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + payloadLength));
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], ipId);
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], fragment);
        ip[8] = (byte)_random.Next(30, 255);
        ip[9] = protocol;
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], src);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], dst);
        return 20;
    }

    private int Tcp(Span<byte> frame, uint src, uint dst, ushort dport, byte flags, uint seq, ushort ipId, ushort window, bool options, bool vlan)
    {
        int ip = Ethernet(frame, vlan, 0x0800);
        int tcpLength = options ? 24 : 20;
        int tcp = ip + Ipv4(frame[ip..], src, dst, 6, tcpLength, ipId, 0x4000);
        WriteTcp(frame[tcp..], dport, flags, seq, window, options);
        return tcp + tcpLength;
    }

    private void WriteTcp(Span<byte> tcp, ushort dport, byte flags, uint seq, ushort window, bool options)
    {
        BinaryPrimitives.WriteUInt16BigEndian(tcp, (ushort)_random.Next(1024, 65535));
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], dport);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], flags == 0x12 || flags == 0x10 ? (uint)_random.Next() : 0);
        tcp[12] = (byte)((options ? 6 : 5) << 4);
        tcp[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], window);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[16..], 0);
        if (options)
        {
            tcp[20] = 2;
            tcp[21] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(tcp[22..], 1460);
        }
    }

    private int Udp(Span<byte> frame, uint src, uint dst, ushort dport)
    {
        int ip = Ethernet(frame, false, 0x0800);
        const int payload = 12;
        int udp = ip + Ipv4(frame[ip..], src, dst, 17, 8 + payload, (ushort)_random.Next(), 0);
        BinaryPrimitives.WriteUInt16BigEndian(frame[udp..], (ushort)_random.Next(1024, 65535));
        BinaryPrimitives.WriteUInt16BigEndian(frame[(udp + 2)..], dport);
        BinaryPrimitives.WriteUInt16BigEndian(frame[(udp + 4)..], 8 + payload);
        BinaryPrimitives.WriteUInt16BigEndian(frame[(udp + 6)..], 0);
        _random.NextBytes(frame.Slice(udp + 8, payload));
        return udp + 8 + payload;
    }

    private int Icmp(Span<byte> frame, uint src, uint dst, byte type, byte code)
    {
        int ip = Ethernet(frame, false, 0x0800);
        int icmp = ip + Ipv4(frame[ip..], src, dst, 1, 8, (ushort)_random.Next(), 0);
        frame[icmp] = type;
        frame[icmp + 1] = code;
        frame.Slice(icmp + 2, 6).Clear();
        return icmp + 8;
    }

    private int Fragment(Span<byte> frame, uint src, uint dst)
    {
        int ip = Ethernet(frame, false, 0x0800);
        const int payload = 32;
        int data = ip + Ipv4(frame[ip..], src, dst, 17, payload, (ushort)_random.Next(), (ushort)_random.Next(1, 180));
        frame.Slice(data, payload).Clear();
        return data + payload;
    }

    private int Ipv6Syn(Span<byte> frame, uint src, uint dst)
    {
        int ip = Ethernet(frame, false, 0x86DD);
        Span<byte> h = frame[ip..];
        BinaryPrimitives.WriteUInt32BigEndian(h, 0x60000000);
        BinaryPrimitives.WriteUInt16BigEndian(h[4..], 20);
        h[6] = 6;
        h[7] = 64;
        BinaryPrimitives.WriteUInt64BigEndian(h[8..], 0x2001_0DB8_0000_0000UL | (src >> 8));
        BinaryPrimitives.WriteUInt64BigEndian(h[16..], src);
        BinaryPrimitives.WriteUInt64BigEndian(h[24..], 0x2001_0DB8_FFFF_0000UL);
        BinaryPrimitives.WriteUInt64BigEndian(h[32..], dst & 0xFFFF);
        WriteTcp(frame[(ip + 40)..], Pick(s_scanPorts), 0x02, (uint)_random.Next(), 1024, false);
        return ip + 60;
    }

    /// <summary>Parses a mix name: <c>realistic</c> or <c>syn</c>.</summary>
    public static TrafficMix ParseMix(string? text) => text switch
    {
        null or "realistic" => TrafficMix.Realistic,
        "syn" => TrafficMix.Syn,
        _ => throw new FormatException($"unknown traffic mix '{text}' (realistic, syn)"),
    };

    /// <summary>Parses "a.b.c.d/len".</summary>
    public static (uint Base, int PrefixLength) ParsePrefix(string text)
    {
        string[] parts = text.Split('/');
        var address = System.Net.IPAddress.Parse(parts[0]);
        Span<byte> bytes = stackalloc byte[4];
        if (!address.TryWriteBytes(bytes, out int written) || written != 4)
        {
            throw new FormatException($"'{text}' is not an IPv4 prefix");
        }

        int length = parts.Length > 1 ? int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) : 32;
        if (length is < 8 or > 32)
        {
            throw new FormatException($"prefix length {length} is outside /8../32");
        }

        return (BinaryPrimitives.ReadUInt32BigEndian(bytes), length);
    }
}

/// <summary>What <see cref="DarknetTrafficGenerator"/> writes.</summary>
public enum TrafficMix
{
    /// <summary>The darknet mix: scans, backscatter, UDP, ICMP, fragments, IPv6.</summary>
    Realistic,

    /// <summary>Only TCP SYN probes to the common scan ports.</summary>
    Syn,
}

/// <summary>xoshiro256** seeded by SplitMix64: fast, deterministic, not cryptographic.</summary>
internal sealed class FastRandom
{
    private ulong _s0, _s1, _s2, _s3;

    public FastRandom(ulong seed)
    {
        _s0 = SplitMix(ref seed);
        _s1 = SplitMix(ref seed);
        _s2 = SplitMix(ref seed);
        _s3 = SplitMix(ref seed);
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>A non-negative <see cref="int"/>.</summary>
    public int Next() => (int)(NextUInt64() >> 33);

    /// <summary>In [0, <paramref name="maxExclusive"/>), by multiply-shift (bias below 2^-32).</summary>
    public int Next(int maxExclusive) => (int)(((NextUInt64() >> 32) * (ulong)maxExclusive) >> 32);

    public int Next(int minInclusive, int maxExclusive) => minInclusive + Next(maxExclusive - minInclusive);

    public long NextInt64(long maxExclusive) => (long)Math.BigMul(NextUInt64(), (ulong)maxExclusive, out _);

    public void NextBytes(Span<byte> bytes)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)NextUInt64();
        }
    }

    private static ulong SplitMix(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
