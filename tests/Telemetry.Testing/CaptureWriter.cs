using System.Buffers.Binary;
using System.IO.Compression;

namespace Telemetry.Testing;

/// <summary>One packet to write: a link-layer frame, its link type and capture time.</summary>
public sealed record TestPacket(int LinkType, byte[] Frame, long TimestampNs, int InterfaceId = 0, int? OriginalLength = null);

/// <summary>Writes pcap files in any of the four magics (µs/ns, either byte order).</summary>
public static class PcapWriter
{
    public static byte[] Write(IEnumerable<TestPacket> packets, int linkType, bool nanosecond = false, bool bigEndian = false, uint snapLen = 262144)
    {
        using var stream = new MemoryStream();
        var w = new EndianWriter(stream, bigEndian);
        w.U32(nanosecond ? 0xA1B23C4Du : 0xA1B2C3D4u);
        w.U16(2);
        w.U16(4);
        w.U32(0);
        w.U32(0);
        w.U32(snapLen);
        w.U32((uint)linkType);
        foreach (TestPacket p in packets)
        {
            long seconds = Math.DivRem(p.TimestampNs, 1_000_000_000, out long ns);
            w.U32((uint)seconds);
            w.U32(nanosecond ? (uint)ns : (uint)(ns / 1000));
            w.U32((uint)p.Frame.Length);
            w.U32((uint)(p.OriginalLength ?? p.Frame.Length));
            w.Bytes(p.Frame);
        }

        return stream.ToArray();
    }
}

/// <summary>An interface of a pcapng section: link type, snaplen, if_tsresol byte and if_tsoffset seconds.</summary>
public sealed record NgInterface(int LinkType, byte TsResol = 6, long TsOffsetSeconds = 0, uint SnapLen = 0);

/// <summary>
/// Writes pcapng: sections (each with its own byte order and interfaces), enhanced and simple
/// packet blocks, interface statistics and unknown blocks.
/// </summary>
public sealed class PcapNgWriter
{
    private readonly MemoryStream _stream = new();
    private EndianWriter _w;
    private List<NgInterface> _interfaces = [];

    public PcapNgWriter()
    {
        _w = new EndianWriter(_stream, false);
    }

    public PcapNgWriter Section(bool bigEndian, params NgInterface[] interfaces)
    {
        _w = new EndianWriter(_stream, bigEndian);
        _interfaces = [.. interfaces];
        byte[] body = new byte[16];
        var b = new EndianWriter(new MemoryStream(body), bigEndian);
        b.U32(0x1A2B3C4D);
        b.U16(1);
        b.U16(0);
        b.U64(ulong.MaxValue); // section length unknown
        Block(0x0A0D0D0A, body, Option(4, "telemetry tests"u8.ToArray()));
        foreach (NgInterface iface in interfaces)
        {
            byte[] idb = new byte[8];
            var i = new EndianWriter(new MemoryStream(idb), bigEndian);
            i.U16((ushort)iface.LinkType);
            i.U16(0);
            i.U32(iface.SnapLen);
            var options = new List<byte[]> { Option(2, "dark0"u8.ToArray()) };
            if (iface.TsResol != 6)
            {
                options.Add(Option(9, [iface.TsResol]));
            }

            if (iface.TsOffsetSeconds != 0)
            {
                byte[] offset = new byte[8];
                if (bigEndian)
                {
                    BinaryPrimitives.WriteInt64BigEndian(offset, iface.TsOffsetSeconds);
                }
                else
                {
                    BinaryPrimitives.WriteInt64LittleEndian(offset, iface.TsOffsetSeconds);
                }

                options.Add(Option(14, offset));
            }

            Block(1, idb, [.. options.SelectMany(o => o)]);
        }

        return this;
    }

    public PcapNgWriter Enhanced(TestPacket packet)
    {
        NgInterface iface = _interfaces[packet.InterfaceId];
        ulong ts = ToUnits(packet.TimestampNs - (iface.TsOffsetSeconds * 1_000_000_000), iface.TsResol);
        byte[] body = new byte[20 + Pad(packet.Frame.Length)];
        var b = new EndianWriter(new MemoryStream(body), _w.BigEndian);
        b.U32((uint)packet.InterfaceId);
        b.U32((uint)(ts >> 32));
        b.U32((uint)ts);
        b.U32((uint)packet.Frame.Length);
        b.U32((uint)(packet.OriginalLength ?? packet.Frame.Length));
        b.Bytes(packet.Frame);
        Block(6, body, Option(1, "ok"u8.ToArray()));
        return this;
    }

    /// <summary>A simple packet block: no timestamp (the reader reuses the interface's last one) and interface 0.</summary>
    public PcapNgWriter Simple(byte[] frame)
    {
        byte[] body = new byte[4 + Pad(frame.Length)];
        var b = new EndianWriter(new MemoryStream(body), _w.BigEndian);
        b.U32((uint)frame.Length);
        b.Bytes(frame);
        Block(3, body, []);
        return this;
    }

    public PcapNgWriter Statistics(int interfaceId, ulong ifDrop)
    {
        byte[] body = new byte[12];
        var b = new EndianWriter(new MemoryStream(body), _w.BigEndian);
        b.U32((uint)interfaceId);
        b.U32(0);
        b.U32(0);
        byte[] drop = new byte[8];
        if (_w.BigEndian)
        {
            BinaryPrimitives.WriteUInt64BigEndian(drop, ifDrop);
        }
        else
        {
            BinaryPrimitives.WriteUInt64LittleEndian(drop, ifDrop);
        }

        Block(5, body, Option(5, drop));
        return this;
    }

    /// <summary>A block type the reader does not know (a custom block), which it must skip.</summary>
    public PcapNgWriter Unknown(uint type = 0x00000BAD, int length = 40)
    {
        byte[] body = new byte[Pad(length)];
        new Random(length).NextBytes(body);
        Block(type, body, []);
        return this;
    }

    public byte[] ToArray() => _stream.ToArray();

    /// <summary>Timestamp units of an if_tsresol byte (MSB clear: 10^-n; set: 2^-n).</summary>
    public static ulong ToUnits(long ns, byte tsResol)
    {
        if ((tsResol & 0x80) != 0)
        {
            int shift = tsResol & 0x7F;
            return (ulong)(((UInt128)(ulong)ns << shift) / 1_000_000_000);
        }

        int exponent = tsResol;
        return exponent <= 9
            ? (ulong)ns / (ulong)Math.Pow(10, 9 - exponent)
            : (ulong)ns * (ulong)Math.Pow(10, exponent - 9);
    }

    private void Block(uint type, byte[] body, byte[] options)
    {
        byte[] endOptions = options.Length > 0 ? [.. options, 0, 0, 0, 0] : [];
        uint length = (uint)(12 + body.Length + endOptions.Length);
        _w.U32(type);
        _w.U32(length);
        _w.Bytes(body);
        _w.Bytes(endOptions);
        _w.U32(length);
    }

    private byte[] Option(ushort code, byte[] value)
    {
        byte[] option = new byte[4 + Pad(value.Length)];
        var o = new EndianWriter(new MemoryStream(option), _w.BigEndian);
        o.U16(code);
        o.U16((ushort)value.Length);
        o.Bytes(value);
        return option;
    }

    private static int Pad(int length) => (length + 3) & ~3;
}

public static class Gzip
{
    public static byte[] Compress(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }
}

internal sealed class EndianWriter(Stream stream, bool bigEndian)
{
    public bool BigEndian { get; } = bigEndian;

    public void U16(ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        if (BigEndian)
        {
            BinaryPrimitives.WriteUInt16BigEndian(b, value);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        }

        stream.Write(b);
    }

    public void U32(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        if (BigEndian)
        {
            BinaryPrimitives.WriteUInt32BigEndian(b, value);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        }

        stream.Write(b);
    }

    public void U64(ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        if (BigEndian)
        {
            BinaryPrimitives.WriteUInt64BigEndian(b, value);
        }
        else
        {
            BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        }

        stream.Write(b);
    }

    public void Bytes(ReadOnlySpan<byte> bytes) => stream.Write(bytes);
}
