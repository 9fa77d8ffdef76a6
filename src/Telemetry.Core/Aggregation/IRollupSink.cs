namespace Telemetry.Core.Aggregation;

/// <summary>What one flush hands to the sink: closed windows (all shards merged) and health deltas.</summary>
public sealed class RollupBatch
{
    public RollupBatch(SensorRegistry sensors, long windowNs, IReadOnlyList<WindowTables> windows, IReadOnlyList<HealthRow> health)
    {
        Sensors = sensors;
        WindowNs = windowNs;
        Windows = windows;
        Health = health;
    }

    public SensorRegistry Sensors { get; }

    public long WindowNs { get; }

    public IReadOnlyList<WindowTables> Windows { get; }

    public IReadOnlyList<HealthRow> Health { get; }

    public bool IsEmpty => Windows.Count == 0 && Health.Count == 0;

    public long TargetRows => Windows.Sum(w => (long)w.Targets.Count);

    public long PortRows => Windows.Sum(w => (long)w.Ports.Count);

    public long SourceRows => Windows.Sum(w => (long)w.Sources.Count);
}

/// <summary>
/// Where rollups go. <see cref="WriteAsync"/> returns once the batch is stored; it retries
/// transient failures itself and throws only when cancelled or when the batch can never be stored.
/// The batch's tables go back to the engine's pool as soon as WriteAsync returns: a sink must
/// copy out anything it keeps.
/// </summary>
public interface IRollupSink
{
    Task WriteAsync(RollupBatch batch, CancellationToken cancellationToken);
}

/// <summary>Notifications for the metrics exporter; implementations must be cheap and thread-safe.</summary>
public interface ITelemetryEvents
{
    void CaptureError(string sensor, string kind);

    void RowsFlushed(string table, long rows, TimeSpan elapsed);

    void FlushFailed(string table);
}

/// <summary>Discards every event; for tools and tests that export no metrics.</summary>
public sealed class NullTelemetryEvents : ITelemetryEvents
{
    public static readonly NullTelemetryEvents Instance = new();

    public void CaptureError(string sensor, string kind)
    {
    }

    public void RowsFlushed(string table, long rows, TimeSpan elapsed)
    {
    }

    public void FlushFailed(string table)
    {
    }
}
