using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;
using Telemetry.Testing;

namespace Telemetry.ClickHouse.Tests;

/// <summary>Edges of the RowBinary request body that only a real server can judge.</summary>
[Collection(ClickHouseServerDefinition.Name)]
public class RowBinaryIntegrationTests(ClickHouseServer server)
{
    /// <summary>
    /// The rows follow the statement's newline, and the server skips whitespace before the data:
    /// a first byte that is itself whitespace (window_start's low byte) must still be read as data.
    /// </summary>
    [Theory]
    [InlineData(0x0A)]
    [InlineData(0x0D)]
    [InlineData(0x20)]
    [InlineData(0x09)]
    [InlineData(0x0C)]
    public async Task WriteAsync_FirstDataByteIsWhitespace_StoredExactly(int lowByte)
    {
        string db = ClickHouseServer.NewDatabase("ws");
        using ClickHouseStore store = Batches.Store(server.Url, db);
        await store.EnsureSchemaAsync();

        uint seconds = (1_763_596_800u & ~0xFFu) | (uint)lowByte;
        var sensors = new SensorRegistry(4);
        SensorState sensor = sensors.GetOrAdd("quote'\"\\\t\n-ü");
        var tables = new WindowTables(sensor.Id, seconds * 1_000_000_000L);
        tables.Add(new RollupInput
        {
            TimestampNs = seconds * 1_000_000_000L,
            Source = IpAddr.Parse("203.0.113.1"),
            Destination = IpAddr.Parse("198.51.100.2"),
            IpBytes = 40,
            Port = 23,
            Protocol = 6,
            Class = TrafficClass.TcpSyn,
        });
        var health = new HealthRow(sensor.Id, seconds * 1_000_000_000L) { PacketsSeen = 1, Decoded = 1, WireBytes = 54 };
        var events = new RecordingEvents();
        await Batches.Sink(store, events).WriteAsync(new RollupBatch(sensors, Input.MinuteNs, [tables], [health]), CancellationToken.None);

        foreach (string table in new[] { Schema.TargetTable, Schema.PortTable, Schema.SourceTable, Schema.HealthTable })
        {
            Assert.Equal(
                $"{seconds}|1",
                string.Join('|', (await server.RowsAsync($"SELECT toUInt32(window_start), count() FROM {db}.{table} GROUP BY window_start"))[0]));
            Assert.Equal(1, await server.ScalarAsync($"SELECT count() FROM {db}.{table} WHERE sensor = 'quote\\'\"\\\\\\t\\n-ü'"));
        }

        Assert.Empty(events.Failed);
    }
}
