using System.Buffers.Binary;

namespace Telemetry.Host.Simulation;

/// <summary>Writes a classic pcap stream (little-endian, nanosecond timestamps, Ethernet).</summary>
public sealed class PcapStreamWriter
{
    private readonly Stream _stream;
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _used;

    public PcapStreamWriter(Stream stream)
    {
        _stream = stream;
        Span<byte> header = _buffer.AsSpan(0, 24);
        BinaryPrimitives.WriteUInt32LittleEndian(header, 0xA1B23C4D);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 4);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], 262144);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], 1);
        _used = 24;
    }

    public async ValueTask WriteAsync(long timestampNs, ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        if (_used + 16 + frame.Length > _buffer.Length)
        {
            await FlushAsync(cancellationToken);
        }

        Span<byte> record = _buffer.AsSpan(_used);
        BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)(timestampNs / 1_000_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], (uint)(timestampNs % 1_000_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(record[8..], (uint)frame.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record[12..], (uint)frame.Length);
        frame.Span.CopyTo(record[16..]);
        _used += 16 + frame.Length;
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
}
