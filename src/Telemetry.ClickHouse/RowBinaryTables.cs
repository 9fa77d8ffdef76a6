using System.Buffers.Binary;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;

namespace Telemetry.ClickHouse;

/// <summary>How the rows of one window table are laid out in RowBinary.</summary>
internal interface IRowLayout<TKey, TValue>
    where TKey : unmanaged, ITableKey<TKey>
    where TValue : unmanaged
{
    static abstract string Table { get; }

    static abstract IReadOnlyList<RowBinaryColumn> Columns { get; }

    /// <summary>Most bytes one row takes, besides its sensor name.</summary>
    static abstract int MaxRowBytes { get; }

    static abstract KeyTable<TKey, TValue> Rows(WindowTables window);

    /// <summary>The order to write the window's rows in (positions in <see cref="Rows"/>), or null for insertion order.</summary>
    static abstract int[]? Order(WindowTables window, RowOrder order);

    /// <summary>Writes one row of <paramref name="window"/>; <paramref name="destination"/> holds at least MaxRowBytes plus the sensor's length.</summary>
    static abstract int Write(Span<byte> destination, uint windowStart, ReadOnlySpan<byte> sensor, WindowTables window, in TKey key, in TValue value);
}

internal readonly struct TargetLayout : IRowLayout<CompactAddressKey, TargetStats>
{
    public static string Table => Schema.TargetTable;

    public static IReadOnlyList<RowBinaryColumn> Columns { get; } =
    [
        new("window_start", "DateTime"),
        new("sensor", "String"),
        new("dst_ip", "FixedString(16)"),
        new("proto", "UInt8"),
        new("dst_port", "UInt16"),
        new("class", "String"),
        new("packets", "UInt64"),
        new("ip_bytes", "UInt64"),
        new("sources", "UInt64"),
        new("first_seen", "DateTime"),
        new("last_seen", "DateTime"),
    ];

    public static int MaxRowBytes { get; } = 4 + 16 + 1 + 2 + RowBinary.MaxClassBytes + (3 * 8) + (2 * 4);

    public static KeyTable<CompactAddressKey, TargetStats> Rows(WindowTables window) => window.Targets.Stored;

    public static int[]? Order(WindowTables window, RowOrder order) => order.Sort(window.Targets);

    public static int Write(Span<byte> destination, uint windowStart, ReadOnlySpan<byte> sensor, WindowTables window, in CompactAddressKey key, in TargetStats value)
    {
        int o = RowBinary.WriteWindow(destination, windowStart, sensor);
        window.Targets.AddressOf(key).WriteBytes(destination.Slice(o, 16));
        o = RowBinary.WritePortKey(destination, o + 16, key.Port);
        Span<byte> tail = destination.Slice(o, 32);
        BinaryPrimitives.WriteUInt64LittleEndian(tail, value.Packets);
        BinaryPrimitives.WriteUInt64LittleEndian(tail[8..], value.Bytes);
        BinaryPrimitives.WriteUInt64LittleEndian(tail[16..], value.Sources);
        BinaryPrimitives.WriteUInt32LittleEndian(tail[24..], value.FirstSecond);
        BinaryPrimitives.WriteUInt32LittleEndian(tail[28..], value.LastSecond);
        return o + 32;
    }
}

internal readonly struct PortLayout : IRowLayout<PortKey, PortStats>
{
    public static string Table => Schema.PortTable;

    public static IReadOnlyList<RowBinaryColumn> Columns { get; } =
    [
        new("window_start", "DateTime"),
        new("sensor", "String"),
        new("proto", "UInt8"),
        new("dst_port", "UInt16"),
        new("class", "String"),
        new("packets", "UInt64"),
        new("ip_bytes", "UInt64"),
        new("sources", "UInt64"),
        new("targets", "UInt64"),
    ];

    public static int MaxRowBytes { get; } = 4 + 1 + 2 + RowBinary.MaxClassBytes + (4 * 8);

    public static KeyTable<PortKey, PortStats> Rows(WindowTables window) => window.Ports;

    // A window has a few hundred port rows at most: ClickHouse sorts them at no real cost.
    public static int[]? Order(WindowTables window, RowOrder order) => null;

    public static int Write(Span<byte> destination, uint windowStart, ReadOnlySpan<byte> sensor, WindowTables window, in PortKey key, in PortStats value)
    {
        int o = RowBinary.WriteWindow(destination, windowStart, sensor);
        o = RowBinary.WritePortKey(destination, o, key);
        Span<byte> tail = destination.Slice(o, 32);
        BinaryPrimitives.WriteUInt64LittleEndian(tail, value.Packets);
        BinaryPrimitives.WriteUInt64LittleEndian(tail[8..], value.Bytes);
        BinaryPrimitives.WriteUInt64LittleEndian(tail[16..], value.Sources);
        BinaryPrimitives.WriteUInt64LittleEndian(tail[24..], value.Targets);
        return o + 32;
    }
}

internal readonly struct SourceLayout : IRowLayout<CompactAddressKey, SourceStats>
{
    public static string Table => Schema.SourceTable;

    public static IReadOnlyList<RowBinaryColumn> Columns { get; } =
    [
        new("window_start", "DateTime"),
        new("sensor", "String"),
        new("src_ip", "FixedString(16)"),
        new("proto", "UInt8"),
        new("dst_port", "UInt16"),
        new("class", "String"),
        new("packets", "UInt64"),
        new("ip_bytes", "UInt64"),
        new("targets", "UInt64"),
    ];

    public static int MaxRowBytes { get; } = 4 + 16 + 1 + 2 + RowBinary.MaxClassBytes + (3 * 8);

    public static KeyTable<CompactAddressKey, SourceStats> Rows(WindowTables window) => window.Sources.Stored;

    public static int[]? Order(WindowTables window, RowOrder order) => order.Sort(window.Sources);

    public static int Write(Span<byte> destination, uint windowStart, ReadOnlySpan<byte> sensor, WindowTables window, in CompactAddressKey key, in SourceStats value)
    {
        int o = RowBinary.WriteWindow(destination, windowStart, sensor);
        window.Sources.AddressOf(key).WriteBytes(destination.Slice(o, 16));
        o = RowBinary.WritePortKey(destination, o + 16, key.Port);
        Span<byte> tail = destination.Slice(o, 24);
        BinaryPrimitives.WriteUInt64LittleEndian(tail, value.Packets);
        BinaryPrimitives.WriteUInt64LittleEndian(tail[8..], value.Bytes);
        BinaryPrimitives.WriteUInt64LittleEndian(tail[16..], value.Targets);
        return o + 24;
    }
}

/// <summary>Takes one table's rows of a batch a chunk at a time, and encodes a chunk as RowBinary.</summary>
internal interface ITableRowWriter
{
    string Table { get; }

    IReadOnlyList<RowBinaryColumn> Columns { get; }

    /// <summary>Starts over at the first row of <paramref name="batch"/>; null lets go of the last batch.</summary>
    void Start(RollupBatch? batch);

    /// <summary>
    /// Empties <paramref name="chunk"/> and puts in it up to <paramref name="maxRows"/> rows that
    /// follow the last taken; returns how many (0 once all are taken). The chunk holds the rows'
    /// positions, so it stays valid while the batch's tables do, whatever is taken after it.
    /// </summary>
    int Take(RowChunk chunk, int maxRows);

    /// <summary>
    /// Encodes the rows of <paramref name="chunk"/> from <paramref name="cursor"/> on, as many
    /// whole rows as fit in <paramref name="destination"/>, and moves the cursor past them;
    /// returns the bytes written.
    /// </summary>
    int Encode(RowChunk chunk, ref ChunkCursor cursor, Span<byte> destination);
}

/// <summary>
/// Walks one of the window tables of every window in a batch, in the table's row order, and
/// writes each entry straight from the table: no row objects, nothing allocated per row.
/// </summary>
internal sealed class WindowRowWriter<TKey, TValue, TLayout>(SensorNameCache sensors, RowOrder order) : ITableRowWriter
    where TKey : unmanaged, ITableKey<TKey>
    where TValue : unmanaged
    where TLayout : IRowLayout<TKey, TValue>
{
    // Rows ahead of the one being written whose entries are prefetched: a miss to memory here
    // costs about 200 ns, a row's encoding a few tens.
    private const int EncodePrefetchDistance = 8;

    private RollupBatch? _batch;
    private int _window;
    private bool _open;
    private WindowTables? _windowTables;
    private int[]? _order;
    private int _count;
    private int _next;
    private byte[] _sensor = [];
    private uint _windowStart;

    public string Table => TLayout.Table;

    public IReadOnlyList<RowBinaryColumn> Columns => TLayout.Columns;

    public void Start(RollupBatch? batch)
    {
        _batch = batch;
        _window = -1;
        _open = false;
        _windowTables = null;
        _order = null;
        _count = 0;
        _next = 0;
    }

    public int Take(RowChunk chunk, int maxRows)
    {
        chunk.Reset(this, _batch);
        while (chunk.Rows < maxRows && (_open || NextWindow()))
        {
            int count = Math.Min(maxRows - chunk.Rows, _count - _next);
            if (count > 0)
            {
                // The window's row order is copied into the chunk: the next window's sort reuses its array.
                if (_order is null)
                {
                    chunk.AddRun(_windowTables, _sensor, _windowStart, _next, count);
                }
                else
                {
                    chunk.AddSegment(_windowTables, _sensor, _windowStart, _order.AsSpan(_next, count));
                }

                _next += count;
            }

            _open = _next < _count;
        }

        return chunk.Rows;
    }

    public int Encode(RowChunk chunk, ref ChunkCursor cursor, Span<byte> destination)
    {
        int written = 0;
        ReadOnlySpan<int> positions = chunk.Positions;
        IReadOnlyList<ChunkSegment> segments = chunk.Segments;
        while (cursor.Segment < segments.Count)
        {
            // The inner loop works on locals, which the JIT can keep in registers across the
            // calls it makes, and stores the position back when it stops.
            ChunkSegment segment = segments[cursor.Segment];
            WindowTables window = segment.Window!;
            KeyTable<TKey, TValue> rows = TLayout.Rows(window);
            ReadOnlySpan<int> rowPositions = positions.Slice(segment.Start, segment.Count);
            int rowBytes = TLayout.MaxRowBytes + segment.Sensor.Length;
            int next = cursor.Row;
            while (next < rowPositions.Length)
            {
                if (destination.Length - written < rowBytes)
                {
                    cursor.Row = next;
                    return written;
                }

                // Rows in sorting-key order visit the entries at random: start loading a few rows ahead.
                if (next + EncodePrefetchDistance < rowPositions.Length)
                {
                    rows.PrefetchAt(rowPositions[next + EncodePrefetchDistance]);
                }

                ref TableEntry<TKey, TValue> row = ref rows.EntryAt(rowPositions[next]);
                written += TLayout.Write(destination[written..], segment.WindowStart, segment.Sensor, window, row.Key, row.Value);
                next++;
            }

            cursor.Segment++;
            cursor.Row = 0;
        }

        return written;
    }

    private bool NextWindow()
    {
        _open = false;
        if (_batch is null || _window + 1 >= _batch.Windows.Count)
        {
            return false;
        }

        WindowTables window = _batch.Windows[++_window];
        _windowTables = window;
        _count = TLayout.Rows(window).Count;
        _order = TLayout.Order(window, order);
        _next = 0;
        _sensor = sensors.Get(_batch.Sensors[window.SensorId].Name);
        _windowStart = RowBinary.Seconds(window.WindowStartNs);
        _open = true;
        return true;
    }
}

/// <summary>The ingest_health_1m rows of a batch.</summary>
internal sealed class HealthRowWriter(SensorNameCache sensors) : ITableRowWriter
{
    private const int MaxRowBytes = 4 + (11 * 8);
    private RollupBatch? _batch;
    private int _next;

    public static IReadOnlyList<RowBinaryColumn> HealthColumns { get; } =
    [
        new("window_start", "DateTime"),
        new("sensor", "String"),
        new("packets_seen", "UInt64"),
        new("packets_decoded", "UInt64"),
        new("wire_bytes", "UInt64"),
        .. Schema.UndecodableColumns.Select(name => new RowBinaryColumn(name, "UInt64")),
        new("capture_drops", "UInt64"),
        new("capture_errors", "UInt64"),
    ];

    public string Table => Schema.HealthTable;

    public IReadOnlyList<RowBinaryColumn> Columns => HealthColumns;

    public void Start(RollupBatch? batch)
    {
        _batch = batch;
        _next = 0;
    }

    public int Take(RowChunk chunk, int maxRows)
    {
        chunk.Reset(this, _batch);
        int count = _batch is null ? 0 : Math.Min(maxRows, _batch.Health.Count - _next);
        if (count > 0)
        {
            chunk.AddRun(null, [], 0, _next, count);
            _next += count;
        }

        return count;
    }

    public int Encode(RowChunk chunk, ref ChunkCursor cursor, Span<byte> destination)
    {
        // The chunk's batch, not the writer's: a chunk stays valid whatever is taken after it.
        int written = 0;
        RollupBatch batch = chunk.Batch!;
        ReadOnlySpan<int> positions = chunk.Positions;
        while (cursor.Segment < chunk.Segments.Count)
        {
            ChunkSegment segment = chunk.Segments[cursor.Segment];
            while (cursor.Row < segment.Count)
            {
                HealthRow row = batch.Health[positions[segment.Start + cursor.Row]];
                byte[] sensor = sensors.Get(batch.Sensors[row.SensorId].Name);
                if (destination.Length - written < MaxRowBytes + sensor.Length)
                {
                    return written;
                }

                Span<byte> span = destination[written..];
                int o = RowBinary.WriteWindow(span, RowBinary.Seconds(row.WindowStartNs), sensor);
                Span<byte> tail = span.Slice(o, 11 * 8);
                long[] u = row.Undecodable;
                BinaryPrimitives.WriteInt64LittleEndian(tail, row.PacketsSeen);
                BinaryPrimitives.WriteInt64LittleEndian(tail[8..], row.Decoded);
                BinaryPrimitives.WriteInt64LittleEndian(tail[16..], row.WireBytes);
                BinaryPrimitives.WriteInt64LittleEndian(tail[24..], u[(int)DecodeStatus.UnsupportedLinkType]);
                BinaryPrimitives.WriteInt64LittleEndian(tail[32..], u[(int)DecodeStatus.NonIp]);
                BinaryPrimitives.WriteInt64LittleEndian(tail[40..], u[(int)DecodeStatus.TruncatedLink]);
                BinaryPrimitives.WriteInt64LittleEndian(tail[48..], u[(int)DecodeStatus.TruncatedIp]);
                BinaryPrimitives.WriteInt64LittleEndian(tail[56..], u[(int)DecodeStatus.BadIpHeader]);
                BinaryPrimitives.WriteInt64LittleEndian(tail[64..], u[(int)DecodeStatus.TruncatedTransport]);
                BinaryPrimitives.WriteInt64LittleEndian(tail[72..], row.CaptureDrops);
                BinaryPrimitives.WriteInt64LittleEndian(tail[80..], row.CaptureErrors);
                written += o + (11 * 8);
                cursor.Row++;
            }

            cursor.Segment++;
            cursor.Row = 0;
        }

        return written;
    }
}
