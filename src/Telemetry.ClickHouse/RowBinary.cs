using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Text;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;

namespace Telemetry.ClickHouse;

/// <summary>A column of an INSERT: its name and the type its RowBinary value is written as.</summary>
internal readonly record struct RowBinaryColumn(string Name, string Type);

/// <summary>
/// The pieces of ClickHouse's RowBinary format the rollup tables use: little-endian fixed-width
/// integers, DateTime as UInt32 seconds, String as a LEB128 length and UTF-8 bytes, and
/// FixedString(16) as 16 raw bytes. IPv6 and LowCardinality(String) columns (current servers) take
/// the same bytes as FixedString(16) and String (18.16).
/// </summary>
internal static class RowBinary
{
    /// <summary>Most bytes of a LEB128-encoded 32-bit length.</summary>
    public const int MaxLengthBytes = 5;

    private static readonly byte[][] s_classes = [.. TrafficClasses.Names.Select(EncodeString)];

    /// <summary>The encoded <c>class</c> value of every <see cref="TrafficClass"/>.</summary>
    public static ReadOnlySpan<byte> Class(TrafficClass value) => s_classes[(int)value];

    /// <summary>Longest encoded class name.</summary>
    public static int MaxClassBytes { get; } = s_classes.Max(c => c.Length);

    /// <summary>A String value: LEB128 length, then UTF-8.</summary>
    public static byte[] EncodeString(string value)
    {
        int length = Encoding.UTF8.GetByteCount(value);
        Span<byte> prefix = stackalloc byte[MaxLengthBytes];
        int prefixLength = WriteLength(prefix, (uint)length);
        byte[] bytes = new byte[prefixLength + length];
        prefix[..prefixLength].CopyTo(bytes);
        Encoding.UTF8.GetBytes(value, bytes.AsSpan(prefixLength));
        return bytes;
    }

    /// <summary>Writes an unsigned LEB128 number; returns its length.</summary>
    public static int WriteLength(Span<byte> destination, uint value)
    {
        int i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>
    /// Nanoseconds since the epoch as a DateTime value (whole seconds), held to the column's range
    /// (1970 to 2106) so that a wild capture timestamp cannot make an insert fail forever.
    /// </summary>
    public static uint Seconds(long unixNs) => UnixSeconds.From(unixNs);

    /// <summary>The INSERT statement that leads a request body; the rows follow the newline.</summary>
    public static byte[] InsertStatement(string database, string table, IReadOnlyList<RowBinaryColumn> columns) =>
        Encoding.UTF8.GetBytes($"INSERT INTO {database}.{table} ({string.Join(", ", columns.Select(c => c.Name))}) FORMAT RowBinary\n");

    /// <summary>proto UInt8, dst_port UInt16, class String; returns the offset after them.</summary>
    public static int WritePortKey(Span<byte> destination, int offset, PortKey port)
    {
        destination[offset] = port.Protocol;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[(offset + 1)..], port.Port);
        ReadOnlySpan<byte> name = Class(port.Class);
        name.CopyTo(destination[(offset + 3)..]);
        return offset + 3 + name.Length;
    }

    /// <summary>window_start DateTime, sensor String; returns the offset after them.</summary>
    public static int WriteWindow(Span<byte> destination, uint windowStart, ReadOnlySpan<byte> sensor)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, windowStart);
        sensor.CopyTo(destination[4..]);
        return 4 + sensor.Length;
    }
}

/// <summary>Encoded sensor names, made once per name.</summary>
internal sealed class SensorNameCache
{
    private const int MaxEntries = 65_536;
    private readonly ConcurrentDictionary<string, byte[]> _names = new(StringComparer.Ordinal);

    public byte[] Get(string name)
    {
        if (_names.TryGetValue(name, out byte[]? bytes))
        {
            return bytes;
        }

        if (_names.Count >= MaxEntries)
        {
            _names.Clear();
        }

        return _names.GetOrAdd(name, RowBinary.EncodeString);
    }
}
