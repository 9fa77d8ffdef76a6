using System.Threading.Channels;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// One aggregation thread. Owns the open windows of the packets routed to it (by destination
/// address hash), closes them as the sensors' watermarks pass, and hands closed partials to
/// the engine. Nothing here is shared, so nothing is locked.
/// </summary>
internal sealed class AggregatorShard
{
    /// <summary>
    /// Rows in this shard's open windows from which it prefetches in two stages: about 4 MiB of
    /// target and source rows at their full-load cost (53 and 45 bytes).
    /// </summary>
    private const long TwoStagePrefetchFromKeys = 80_000;

    private readonly AggregationEngine _engine;
    private readonly long _windowNs;
    private readonly long _memoryCap;
    private readonly Dictionary<(int Sensor, long Window), WindowTables> _open = [];
    private readonly List<WindowTables> _closing = [];
    private readonly PrefetchPipeline _prefetch = new();

    // What each sensor's last on-time window held in this shard; its next window starts that size.
    private readonly Dictionary<int, TableSizes> _lastSizes = [];
    private readonly long[] _watermarks;
    private readonly long[] _progressEpoch;
    private readonly long[] _progressWatermark;
    private WindowTables? _last;
    private long _memory;
    private long _keys;

    public AggregatorShard(AggregationEngine engine, int index, int maxSensors, long windowNs, long memoryCap, int queueBatches)
    {
        _engine = engine;
        Index = index;
        _windowNs = windowNs;
        _memoryCap = memoryCap;
        _watermarks = new long[maxSensors];
        _progressEpoch = new long[maxSensors];
        _progressWatermark = new long[maxSensors];
        Array.Fill(_watermarks, long.MinValue);
        Array.Fill(_progressWatermark, long.MinValue);

        // Bounded so that a slow shard makes readers wait instead of buffering without limit.
        Input = Channel.CreateBounded<ShardBatch>(new BoundedChannelOptions(queueBatches)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public int Index { get; }

    public Channel<ShardBatch> Input { get; }

    public long MemoryBytes => Volatile.Read(ref _memory);

    public long KeyCount => Volatile.Read(ref _keys);

    public long LatePackets;

    public long EarlyFlushes;

    public long ProgressWatermark(int sensor) => Volatile.Read(ref _progressWatermark[sensor]);

    public long ProgressEpoch(int sensor) => Volatile.Read(ref _progressEpoch[sensor]);

    public async Task RunAsync()
    {
        ChannelReader<ShardBatch> reader = Input.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out ShardBatch? batch))
            {
                await ProcessAsync(batch).ConfigureAwait(false);
            }
        }

        // Input completed: the engine is draining; close everything that is left.
        foreach (WindowTables tables in _open.Values)
        {
            _closing.Add(tables);
        }

        await CloseAsync(long.MaxValue).ConfigureAwait(false);
    }

    private async ValueTask ProcessAsync(ShardBatch batch)
    {
        SensorState sensor = batch.Sensor!;
        int sensorId = sensor.Id;
        long watermark = _watermarks[sensorId];
        long late = AddBatch(batch.Items, batch.Count, sensorId, watermark);
        if (late != 0)
        {
            Interlocked.Add(ref sensor.LatePackets, late);
            LatePackets += late;
        }

        if (batch.WatermarkNs > watermark)
        {
            watermark = batch.WatermarkNs;
            _watermarks[sensorId] = watermark;
        }

        long epoch = batch.FlushEpoch;
        long closeBefore = watermark;
        foreach (WindowTables tables in _open.Values)
        {
            if (tables.SensorId == sensorId && (epoch != 0 || tables.WindowStartNs + _windowNs <= closeBefore))
            {
                _closing.Add(tables);
            }
        }

        _engine.ReturnBatch(batch);
        await CloseAsync(epoch).ConfigureAwait(false);
        Volatile.Write(ref _progressWatermark[sensorId], watermark);
        if (epoch > _progressEpoch[sensorId])
        {
            Volatile.Write(ref _progressEpoch[sensorId], epoch);
        }

        if (_memory > _memoryCap)
        {
            await RelieveMemoryAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Adds a batch's packets to their windows and returns how many fell in late ones. Kept out
    /// of the async <see cref="ProcessAsync"/>, so the hot loop is a plain method that the
    /// runtime re-compiles by call count, not only by on-stack replacement of a state machine's
    /// loop (no throughput difference measured either way; it keeps the loop readable).
    /// </summary>
    private long AddBatch(RollupInput[] items, int count, int sensorId, long watermark)
    {
        long late = 0;

        // The window of the last packet (GetTables keeps _last in step with it). What the batch
        // adds to this shard's bytes and keys is counted per run of packets in one window (nearly
        // always the whole batch), not per packet.
        WindowTables? tables = _last;
        long memory = -(tables?.ApproximateBytes ?? 0);
        long keys = -(tables?.KeyCount ?? 0);

        // Rows that sit in cache gain nothing from having their entries prefetched, and the
        // second stage's work then costs more than it hides (sweep /23: 1.29x faster with one
        // stage, realistic mix: 1.09x slower); so while this shard's open windows hold few rows
        // it prefetches the old way, slots and fingerprint slot in one go. All of its windows
        // count, not only this batch's: sensors' batches interleave and share the cache.
        bool twoStage = _keys >= TwoStagePrefetchFromKeys;
        _prefetch.Start(items, count, tables, twoStage);
        for (int i = 0; i < count; i++)
        {
            // Loads the slots of a packet a few ahead and, once they have arrived, the entries
            // they point to, so its cache misses overlap this one's work; nearly always it falls
            // in the same window as the last packet.
            ref readonly PacketKeys packetKeys = ref _prefetch.Next(items, i, count, tables, twoStage);
            ref RollupInput item = ref items[i];
            long start = item.TimestampNs - Mod(item.TimestampNs, _windowNs);
            if (tables is null || tables.WindowStartNs != start || tables.SensorId != sensorId)
            {
                memory += tables?.ApproximateBytes ?? 0;
                keys += tables?.KeyCount ?? 0;
                tables = GetTables(sensorId, start, watermark);
                memory -= tables.ApproximateBytes;
                keys -= tables.KeyCount;
            }

            if (tables.IsLate)
            {
                late++;
            }

            tables.Add(item, packetKeys);
        }

        _memory += memory + (tables?.ApproximateBytes ?? 0);
        _keys += keys + (tables?.KeyCount ?? 0);
        return late;
    }

    private WindowTables GetTables(int sensorId, long start, long watermark)
    {
        if (!_open.TryGetValue((sensorId, start), out WindowTables? tables))
        {
            tables = _engine.RentTables(Index, sensorId, start);
            tables.IsLate = start + _windowNs <= watermark;
            if (!tables.IsLate)
            {
                tables.Reserve(ExpectedSizes(sensorId));
            }

            _open.Add((sensorId, start), tables);
        }

        _last = tables;
        return tables;
    }

    // The larger of the sensor's last closed window and the windows of it still open (the one
    // before this, in its allowed lateness, is nearly complete): table by table, the most keys.
    private TableSizes ExpectedSizes(int sensorId)
    {
        _lastSizes.TryGetValue(sensorId, out TableSizes expected);
        foreach (WindowTables open in _open.Values)
        {
            if (open.SensorId == sensorId && !open.IsLate)
            {
                expected = TableSizes.Max(expected, open.Sizes);
            }
        }

        return expected;
    }

    private async ValueTask CloseAsync(long epoch)
    {
        if (_closing.Count == 0)
        {
            return;
        }

        foreach (WindowTables tables in _closing)
        {
            _open.Remove((tables.SensorId, tables.WindowStartNs));
            _memory -= tables.ApproximateBytes;
            _keys -= tables.KeyCount;
            Interlocked.Add(ref _engine.TableGrowths, tables.Growths);

            // A late window holds stragglers and an early one part of a window: neither says how
            // big the next will be. A window flushed before its end (the sensor went idle or its
            // capture ended) may only raise the sizes a complete window left.
            if (!tables.IsLate && !tables.IsEarly)
            {
                _lastSizes[tables.SensorId] = epoch == 0 || !_lastSizes.TryGetValue(tables.SensorId, out TableSizes last)
                    ? tables.Sizes
                    : TableSizes.Max(last, tables.Sizes);
            }
            if (ReferenceEquals(_last, tables))
            {
                _last = null;
            }

            await _engine.Closed.Writer.WriteAsync(new ClosedWindow(tables, epoch)).ConfigureAwait(false);
        }

        _closing.Clear();
    }

    /// <summary>Past the memory cap the largest open window goes out early, as a partial.</summary>
    private async ValueTask RelieveMemoryAsync()
    {
        while (_memory > _memoryCap && _open.Count > 0)
        {
            WindowTables? largest = null;
            foreach (WindowTables tables in _open.Values)
            {
                if (largest is null || tables.ApproximateBytes > largest.ApproximateBytes)
                {
                    largest = tables;
                }
            }

            largest!.IsEarly = true;
            EarlyFlushes++;
            _closing.Add(largest);
            await CloseAsync(0).ConfigureAwait(false);
        }
    }

    private static long Mod(long value, long divisor)
    {
        long r = value % divisor;
        return r < 0 ? r + divisor : r;
    }
}
