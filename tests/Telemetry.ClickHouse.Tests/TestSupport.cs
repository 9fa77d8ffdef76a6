using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;

namespace Telemetry.ClickHouse.Tests;

/// <summary>Records the sink's events.</summary>
internal sealed class RecordingEvents : ITelemetryEvents
{
    public ConcurrentQueue<(string Table, long Rows)> Flushed { get; } = new();

    public ConcurrentQueue<string> Failed { get; } = new();

    public void CaptureError(string sensor, string kind)
    {
    }

    public void RowsFlushed(string table, long rows, TimeSpan elapsed) => Flushed.Enqueue((table, rows));

    public void FlushFailed(string table) => Failed.Enqueue(table);
}

/// <summary>One packet as the aggregator sees it, for building batches and computing what the tables must hold.</summary>
internal sealed record Input(string Sensor, long TimestampNs, string Source, string Destination, byte Protocol, ushort Port, TrafficClass Class, uint IpBytes)
{
    public const long MinuteNs = 60_000_000_000;

    public long WindowStart => TimestampNs / MinuteNs * 60;

    public RollupInput ToRollup() => new()
    {
        TimestampNs = TimestampNs,
        Source = IpAddr.Parse(Source),
        Destination = IpAddr.Parse(Destination),
        IpBytes = IpBytes,
        Port = Port,
        Protocol = Protocol,
        Class = Class,
    };
}

internal static class Batches
{
    /// <summary>Aggregates <paramref name="inputs"/> the way the engine does (one table set per sensor and window) into a batch.</summary>
    public static RollupBatch Build(IEnumerable<Input> inputs, IEnumerable<HealthRow>? health = null, SensorRegistry? sensors = null)
    {
        sensors ??= new SensorRegistry(64);
        var windows = new Dictionary<(int, long), WindowTables>();
        foreach (Input input in inputs)
        {
            SensorState sensor = sensors.GetOrAdd(input.Sensor);
            long start = input.TimestampNs / Input.MinuteNs * Input.MinuteNs;
            if (!windows.TryGetValue((sensor.Id, start), out WindowTables? tables))
            {
                tables = new WindowTables(sensor.Id, start);
                windows.Add((sensor.Id, start), tables);
            }

            tables.Add(input.ToRollup());
        }

        return new RollupBatch(sensors, Input.MinuteNs, [.. windows.Values], [.. health ?? []]);
    }

    public static ClickHouseStore Store(Uri url, string database, Action<ClickHouseOptions>? configure = null)
    {
        var options = new ClickHouseOptions { Url = url, Database = database };
        configure?.Invoke(options);
        return new ClickHouseStore(options, NullLogger<ClickHouseStore>.Instance);
    }

    public static ClickHouseSink Sink(ClickHouseStore store, ITelemetryEvents events) =>
        new(store, events, NullLogger<ClickHouseSink>.Instance);
}
