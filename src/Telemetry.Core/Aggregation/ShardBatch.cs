namespace Telemetry.Core.Aggregation;

/// <summary>
/// Packets one reader hands to one shard, with the sensor's watermark at hand-off time.
/// Pooled by the engine; a batch with <see cref="FlushEpoch"/> set asks the shard to close
/// every open window of the sensor.
/// </summary>
public sealed class ShardBatch
{
    public ShardBatch(int capacity)
    {
        Items = new RollupInput[capacity];
    }

    public RollupInput[] Items { get; }

    public int Count { get; set; }

    public SensorState? Sensor { get; set; }

    public long WatermarkNs { get; set; } = long.MinValue;

    public long FlushEpoch { get; set; }

    public bool IsFull => Count == Items.Length;

    public void Reset()
    {
        Count = 0;
        Sensor = null;
        WatermarkNs = long.MinValue;
        FlushEpoch = 0;
    }
}

/// <summary>A shard's partial of one sensor's window, closed by watermark, flush or memory pressure.</summary>
public readonly record struct ClosedWindow(WindowTables Tables, long ClosedByEpoch);
