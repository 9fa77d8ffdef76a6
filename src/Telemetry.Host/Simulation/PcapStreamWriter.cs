using System.Buffers.Binary;

namespace Telemetry.Host.Simulation;

/// <summary>The file format <see cref="PcapStreamWriter"/> writes.</summary>
public enum CaptureFormat
{
    /// <summary>Classic pcap, little-endian, nanosecond timestamps.</summary>
    Pcap,

    /// <summary>pcapng: one section, one Ethernet interface with <c>if_tsresol</c> 9, enhanced packet blocks.</summary>
    PcapNg,
}

/// <summary>
/// Writes an Ethernet capture (pcap or pcapng, nanosecond timestamps) through a buffer of its
/// own: <see cref="Write"/> and <see cref="Flush"/> for files (synchronous writes of large
/// blocks are the fastest way to disk), the async pair for sockets.
/// </summary>
public sealed class PcapStreamWriter
{
    private readonly Stream _stream;
    private readonly byte[] _buffer;
    private readonly CaptureFormat _format;
    private int _used;

    public PcapStreamWriter(Stream stream, CaptureFormat format = CaptureFormat.Pcap, int bufferBytes = 1 << 16)
    {
        _stream = stream;
        _format = format;
        _buffer = new byte[Math.Max(bufferBytes, 1024)];
        _used = format == CaptureFormat.Pcap ? WritePcapHeader(_buffer) : WritePcapNgHeader(_buffer);
    }

    /// <summary>Parses a format name: <c>pcap</c> or <c>pcapng</c>.</summary>
    public static CaptureFormat ParseFormat(string? text) => text switch
    {
        null or "pcap" => CaptureFormat.Pcap,
        "pcapng" => CaptureFormat.PcapNg,
        _ => throw new FormatException($"unknown capture format '{text}' (pcap, pcapng)"),
    };

    /// <summary>Appends one record, flushing to the stream synchronously when the buffer is full.</summary>
    public void Write(long timestampNs, ReadOnlySpan<byte> frame)
    {
        if (_used + 36 + frame.Length > _buffer.Length)
        {
            _stream.Write(_buffer, 0, _used);
            _used = 0;
        }

        Append(timestampNs, frame);
    }

    /// <summary>Writes what is buffered and flushes the stream.</summary>
    public void Flush()
    {
        _stream.Write(_buffer, 0, _used);
        _used = 0;
        _stream.Flush();
    }

    public async ValueTask WriteAsync(long timestampNs, ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        if (_used + 36 + frame.Length > _buffer.Length)
        {
            await FlushAsync(cancellationToken);
        }

        Append(timestampNs, frame.Span);
    }

    public async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_used > 0)
        {
            await _stream.WriteAsync(_buffer.AsMemory(0, _used), cancellationToken);
            _used = 0;
        }

        await _stream.FlushAsync(cancellationToken);
    }

    private void Append(long timestampNs, ReadOnlySpan<byte> frame)
    {
        Span<byte> record = _buffer.AsSpan(_used);
        if (_format == CaptureFormat.Pcap)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)(timestampNs / 1_000_000_000));
            BinaryPrimitives.WriteUInt32LittleEndian(record[4..], (uint)(timestampNs % 1_000_000_000));
            BinaryPrimitives.WriteUInt32LittleEndian(record[8..], (uint)frame.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(record[12..], (uint)frame.Length);
            frame.CopyTo(record[16..]);
            _used += 16 + frame.Length;
            return;
        }

        // Enhanced packet block: type, length, interface, timestamp high/low, captured, original,
        // data padded to 4 bytes, length again.
        int padded = (frame.Length + 3) & ~3;
        int length = 32 + padded;
        BinaryPrimitives.WriteUInt32LittleEndian(record, 6);
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], (uint)length);
        BinaryPrimitives.WriteUInt32LittleEndian(record[8..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(record[12..], (uint)((ulong)timestampNs >> 32));
        BinaryPrimitives.WriteUInt32LittleEndian(record[16..], (uint)timestampNs);
        BinaryPrimitives.WriteUInt32LittleEndian(record[20..], (uint)frame.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record[24..], (uint)frame.Length);
        frame.CopyTo(record[28..]);
        record.Slice(28 + frame.Length, padded - frame.Length).Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(record[(28 + padded)..], (uint)length);
        _used += length;
    }

    private static int WritePcapHeader(Span<byte> header)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, 0xA1B23C4D);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 4);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], 262144);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], 1);
        return 24;
    }

    private static int WritePcapNgHeader(Span<byte> b)
    {
        // Section header block: byte-order magic, version 1.0, section length unknown (-1).
        BinaryPrimitives.WriteUInt32LittleEndian(b, 0x0A0D0D0A);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], 28);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], 0x1A2B3C4D);
        BinaryPrimitives.WriteUInt16LittleEndian(b[12..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(b[14..], 0);
        BinaryPrimitives.WriteInt64LittleEndian(b[16..], -1);
        BinaryPrimitives.WriteUInt32LittleEndian(b[24..], 28);

        // Interface description block: Ethernet, snaplen 262144, if_tsresol = 9 (nanoseconds), opt_endofopt.
        Span<byte> idb = b[28..];
        BinaryPrimitives.WriteUInt32LittleEndian(idb, 1);
        BinaryPrimitives.WriteUInt32LittleEndian(idb[4..], 32);
        BinaryPrimitives.WriteUInt16LittleEndian(idb[8..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(idb[10..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(idb[12..], 262144);
        BinaryPrimitives.WriteUInt16LittleEndian(idb[16..], 9);
        BinaryPrimitives.WriteUInt16LittleEndian(idb[18..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(idb[20..], 9);
        BinaryPrimitives.WriteUInt32LittleEndian(idb[24..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(idb[28..], 32);
        return 60;
    }
}
