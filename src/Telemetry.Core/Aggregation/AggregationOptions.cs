using System.ComponentModel.DataAnnotations;

namespace Telemetry.Core.Aggregation;

public sealed class AggregationOptions
{
    public const string Section = "Aggregation";

    /// <summary>Tumbling window length; windows are aligned to the Unix epoch.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How far behind a sensor's newest timestamp a packet may be and still join its window.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan AllowedLateness { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A sensor quiet this long (wall clock) has its open windows flushed.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan IdleFlush { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often closed windows are written to the sink.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Aggregation shards (threads); 0 means one per core.</summary>
    [Range(0, 256)]
    public int Shards { get; set; }

    /// <summary>Cap on the bytes the open windows hold; past it the largest window is flushed early.</summary>
    [Range(16L * 1024 * 1024, long.MaxValue)]
    public long MaxMemoryBytes { get; set; } = 4L * 1024 * 1024 * 1024;

    [Range(1, 65536)]
    public int MaxSensors { get; set; } = 4096;

    /// <summary>Packets per batch handed from a reader to a shard.</summary>
    [Range(16, 65536)]
    public int BatchSize { get; set; } = 2048;

    /// <summary>Batches queued per shard before readers wait (the backpressure bound).</summary>
    [Range(1, 1024)]
    public int ShardQueueBatches { get; set; } = 8;

    public int EffectiveShards => Shards > 0 ? Shards : Environment.ProcessorCount;
}
