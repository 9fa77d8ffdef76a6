using System.Globalization;
using System.Net;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Testing;

namespace Telemetry.ClickHouse.Tests;

[Collection(ClickHouseServerDefinition.Name)]
public class ClickHouseSinkIntegrationTests(ClickHouseServer server)
{
    private const long T0 = 1_763_596_800_000_000_000; // 2025-11-20 00:00:00 UTC

    /// <summary>A deterministic mix: two sensors, three minutes, IPv4 and IPv6, every class, some keys with many sources.</summary>
    private static List<Input> Mix(int seed, int count)
    {
        var random = new Random(seed);
        (byte Proto, TrafficClass Class, ushort Port)[] kinds =
        [
            (6, TrafficClass.TcpSyn, 23), (6, TrafficClass.TcpSyn, 445), (6, TrafficClass.TcpSynAck, 80), (6, TrafficClass.TcpRst, 443),
            (6, TrafficClass.TcpOther, 22), (17, TrafficClass.Udp, 53), (17, TrafficClass.Udp, 1900), (1, TrafficClass.IcmpRequest, 8 * 256),
            (1, TrafficClass.IcmpBackscatter, (3 * 256) + 1), (58, TrafficClass.IcmpOther, 135 * 256), (6, TrafficClass.Fragment, 0), (47, TrafficClass.Other, 0),
        ];
        var inputs = new List<Input>();
        for (int i = 0; i < count; i++)
        {
            var kind = kinds[random.Next(kinds.Length)];
            bool v6 = random.Next(4) == 0;
            string src = v6 ? $"2001:db8:{random.Next(1, 5):x}::{random.Next(1, 90):x}" : $"203.0.113.{random.Next(1, 90)}";
            string dst = v6 ? $"2001:db8:ffff::{random.Next(1, 6):x}" : $"198.51.100.{random.Next(1, 6)}";
            long ts = T0 + (random.NextInt64(0, 180) * 1_000_000_000) + random.Next(1_000_000_000);
            inputs.Add(new Input(random.Next(3) == 0 ? "edge-b" : "edge-a", ts, src, dst, kind.Proto, kind.Port, kind.Class, (uint)random.Next(40, 1500)));
        }

        return inputs;
    }

    private static string Ip16(string address) => Convert.ToHexString(IPAddress.Parse(address).MapToIPv6().GetAddressBytes());

    private static string Row(params object[] fields) => string.Join('|', fields.Select(f => Convert.ToString(f, CultureInfo.InvariantCulture)));

    private static async Task<string> NewSchemaAsync(ClickHouseServer server, string hint)
    {
        string db = ClickHouseServer.NewDatabase(hint);
        using ClickHouseStore store = Batches.Store(server.Url, db);
        await store.EnsureSchemaAsync();
        return db;
    }

    [Fact]
    public async Task WriteAsync_Batch_SumGroupByReadsBackExactly()
    {
        string db = await NewSchemaAsync(server, "sink");
        List<Input> inputs = Mix(seed: 7, count: 4000);
        using ClickHouseStore store = Batches.Store(server.Url, db);
        var events = new RecordingEvents();
        RollupBatch batch = Batches.Build(inputs);
        await Batches.Sink(store, events).WriteAsync(batch, CancellationToken.None);

        var expectedTargets = inputs
            .GroupBy(p => (p.Sensor, p.WindowStart, Dst: Ip16(p.Destination), p.Protocol, p.Port, Class: p.Class.Name()))
            .Select(g => Row(g.Key.WindowStart, g.Key.Sensor, g.Key.Dst, g.Key.Protocol, g.Key.Port, g.Key.Class,
                g.Count(), g.Sum(p => (long)p.IpBytes), g.Select(p => p.Source).Distinct().Count(),
                g.Min(p => p.TimestampNs) / 1_000_000_000, g.Max(p => p.TimestampNs) / 1_000_000_000))
            .Order(StringComparer.Ordinal).ToList();
        List<string[]> targets = await server.RowsAsync($"""
            SELECT toUInt32(window_start), sensor, hex(dst_ip), proto, dst_port, class, sum(packets), sum(ip_bytes), sum(sources),
                   toUInt32(min(first_seen)), toUInt32(max(last_seen))
            FROM {db}.target_port_1m GROUP BY window_start, sensor, dst_ip, proto, dst_port, class
            """);
        Assert.Equal(expectedTargets, targets.Select(r => string.Join('|', r)).Order(StringComparer.Ordinal));

        var expectedPorts = inputs
            .GroupBy(p => (p.Sensor, p.WindowStart, p.Protocol, p.Port, Class: p.Class.Name()))
            .Select(g => Row(g.Key.WindowStart, g.Key.Sensor, g.Key.Protocol, g.Key.Port, g.Key.Class, g.Count(), g.Sum(p => (long)p.IpBytes),
                g.Select(p => p.Source).Distinct().Count(), g.Select(p => p.Destination).Distinct().Count()))
            .Order(StringComparer.Ordinal).ToList();
        List<string[]> ports = await server.RowsAsync($"""
            SELECT toUInt32(window_start), sensor, proto, dst_port, class, sum(packets), sum(ip_bytes), sum(sources), sum(targets)
            FROM {db}.port_1m GROUP BY window_start, sensor, proto, dst_port, class
            """);
        Assert.Equal(expectedPorts, ports.Select(r => string.Join('|', r)).Order(StringComparer.Ordinal));

        var expectedSources = inputs
            .GroupBy(p => (p.Sensor, p.WindowStart, Src: Ip16(p.Source), p.Protocol, p.Port, Class: p.Class.Name()))
            .Select(g => Row(g.Key.WindowStart, g.Key.Sensor, g.Key.Src, g.Key.Protocol, g.Key.Port, g.Key.Class, g.Count(),
                g.Sum(p => (long)p.IpBytes), g.Select(p => p.Destination).Distinct().Count()))
            .Order(StringComparer.Ordinal).ToList();
        List<string[]> sources = await server.RowsAsync($"""
            SELECT toUInt32(window_start), sensor, hex(src_ip), proto, dst_port, class, sum(packets), sum(ip_bytes), sum(targets)
            FROM {db}.source_1m GROUP BY window_start, sensor, src_ip, proto, dst_port, class
            """);
        Assert.Equal(expectedSources, sources.Select(r => string.Join('|', r)).Order(StringComparer.Ordinal));

        // Distinct counts are exact; some keys have many sources.
        Assert.Contains(expectedPorts, r => int.Parse(r.Split('|')[7], CultureInfo.InvariantCulture) > 20);
        // Two inserts run at once, so they may finish in either order.
        Assert.Equal(
            [(Schema.PortTable, (long)expectedPorts.Count), (Schema.SourceTable, expectedSources.Count), (Schema.TargetTable, expectedTargets.Count)],
            events.Flushed.OrderBy(f => f.Table, StringComparer.Ordinal));
        Assert.Empty(events.Failed);
    }

    [Fact]
    public async Task WriteAsync_TwoPartialsOfOneWindow_SumsAddUpBeforeAndAfterMerge()
    {
        string db = await NewSchemaAsync(server, "partials");
        List<Input> inputs = Mix(seed: 11, count: 1500).Where(p => p.Sensor == "edge-a").ToList();
        using ClickHouseStore store = Batches.Store(server.Url, db);
        ClickHouseSink sink = Batches.Sink(store, new RecordingEvents());
        await sink.WriteAsync(Batches.Build(inputs.Take(700)), CancellationToken.None);
        await sink.WriteAsync(Batches.Build(inputs.Skip(700)), CancellationToken.None);

        string totals = $"""
            SELECT toUInt32(window_start) AS w, proto, dst_port, class, sum(packets), sum(ip_bytes)
            FROM {db}.port_1m GROUP BY w, proto, dst_port, class ORDER BY w, proto, dst_port, class
            """;
        var expected = inputs
            .GroupBy(p => (p.WindowStart, p.Protocol, p.Port, Class: p.Class.Name()))
            .OrderBy(g => g.Key.WindowStart).ThenBy(g => g.Key.Protocol).ThenBy(g => g.Key.Port).ThenBy(g => g.Key.Class, StringComparer.Ordinal)
            .Select(g => Row(g.Key.WindowStart, g.Key.Protocol, g.Key.Port, g.Key.Class, g.Count(), g.Sum(p => (long)p.IpBytes)))
            .ToList();
        Assert.Equal(expected, (await server.RowsAsync(totals)).Select(r => string.Join('|', r)));
        Assert.True(await server.ScalarAsync($"SELECT count() FROM {db}.port_1m") > expected.Count, "two partials should give more rows than keys before merging");

        // SummingMergeTree folds the partials into one row per key and keeps the sums.
        await server.QueryAsync($"OPTIMIZE TABLE {db}.port_1m FINAL");
        Assert.Equal(expected, (await server.RowsAsync(totals)).Select(r => string.Join('|', r)));
        Assert.Equal(expected.Count, await server.ScalarAsync($"SELECT count() FROM {db}.port_1m"));

        await server.QueryAsync($"OPTIMIZE TABLE {db}.target_port_1m FINAL");
        long packets = await server.ScalarAsync($"SELECT sum(packets) FROM {db}.target_port_1m");
        Assert.Equal(inputs.Count, packets);
    }

    [Fact]
    public async Task WriteAsync_Ipv4AndIpv6Addresses_StoredAsIpv6WithV4Mapped()
    {
        string db = await NewSchemaAsync(server, "addresses");
        using ClickHouseStore store = Batches.Store(server.Url, db);
        List<Input> inputs =
        [
            new("s", T0, "203.0.113.9", "198.51.100.7", 6, 23, TrafficClass.TcpSyn, 40),
            new("s", T0 + 1, "2001:db8::9", "2001:db8:ffff::7", 6, 23, TrafficClass.TcpSyn, 60),
        ];
        await Batches.Sink(store, new RecordingEvents()).WriteAsync(Batches.Build(inputs), CancellationToken.None);

        Assert.Equal(
            ["2001:db8:ffff::7|00000000000000000000FFFFC6336407|0", "::ffff:198.51.100.7|00000000000000000000FFFFC6336407|1"],
            (await server.RowsAsync($"""
                SELECT IPv6NumToString(dst_ip), hex(IPv6StringToNum('::ffff:198.51.100.7')), dst_ip = IPv6StringToNum('::ffff:198.51.100.7')
                FROM {db}.target_port_1m ORDER BY dst_ip DESC
                """)).Select(r => string.Join('|', r)));
        Assert.Equal(
            ["::ffff:203.0.113.9", "2001:db8::9"],
            (await server.RowsAsync($"SELECT IPv6NumToString(src_ip) FROM {db}.source_1m ORDER BY src_ip")).Select(r => r[0]));
    }

    [Fact]
    public async Task WriteAsync_HealthRows_StoredPerSensorAndWindow()
    {
        string db = await NewSchemaAsync(server, "health");
        using ClickHouseStore store = Batches.Store(server.Url, db);
        var sensors = new SensorRegistry(8);
        SensorState sensor = sensors.GetOrAdd("edge-h");
        var row = new HealthRow(sensor.Id, T0) { PacketsSeen = 100, Decoded = 90, WireBytes = 12345, CaptureDrops = 3, CaptureErrors = 1 };
        for (int reason = 1; reason <= DecodeStatuses.ReasonCount; reason++)
        {
            row.Undecodable[reason] = reason;
        }

        var later = new HealthRow(sensor.Id, T0 + Input.MinuteNs) { PacketsSeen = 5, Decoded = 5, WireBytes = 500 };
        var events = new RecordingEvents();
        await Batches.Sink(store, events).WriteAsync(new RollupBatch(sensors, Input.MinuteNs, [], [row, later]), CancellationToken.None);

        Assert.Equal(
            [
                $"edge-h|{T0 / 1_000_000_000}|100|90|12345|1|2|3|4|5|6|3|1",
                $"edge-h|{(T0 / 1_000_000_000) + 60}|5|5|500|0|0|0|0|0|0|0|0",
            ],
            (await server.RowsAsync($"""
                SELECT sensor, toUInt32(window_start), sum(packets_seen), sum(packets_decoded), sum(wire_bytes),
                       {string.Join(", ", Schema.UndecodableColumns.Select(c => $"sum({c})"))}, sum(capture_drops), sum(capture_errors)
                FROM {db}.ingest_health_1m GROUP BY sensor, window_start ORDER BY window_start
                """)).Select(r => string.Join('|', r)));
        Assert.Equal([(Schema.HealthTable, 2L)], events.Flushed.ToArray());
    }

    [Fact]
    public async Task WriteAsync_Done_SinkHoldsNothingOfTheBatch()
    {
        // The sink keeps its writers and chunks between flushes; the engine may drop a batch's
        // tables once written (its pool keeps only so many), so the sink must not keep them alive.
        string db = await NewSchemaAsync(server, "release");
        using ClickHouseStore store = Batches.Store(server.Url, db, o => o.MaxRowsPerInsert = 1000);
        ClickHouseSink sink = Batches.Sink(store, new RecordingEvents());
        WeakReference tables = WriteOnce(sink);
        for (int i = 0; i < 3 && tables.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.False(tables.IsAlive);
        Assert.Equal(2500, await server.ScalarAsync($"SELECT sum(packets) FROM {db}.target_port_1m"));

        // Synchronous and apart, so that no local of the test (nor an async method's state,
        // which outlives its completion) keeps the batch reachable.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        static WeakReference WriteOnce(ClickHouseSink sink)
        {
            var inputs = new List<Input>();
            for (int i = 0; i < 2500; i++)
            {
                inputs.Add(new Input("rel", T0 + (i * 1000L), $"203.0.113.{(i % 200) + 1}", $"198.18.{i / 250}.{i % 250}", 6, 23, TrafficClass.TcpSyn, 40));
            }

            RollupBatch batch = Batches.Build(inputs);
            Task.Run(() => sink.WriteAsync(batch, CancellationToken.None)).GetAwaiter().GetResult();
            return new WeakReference(batch.Windows[0]);
        }
    }

    [Fact]
    public async Task WriteAsync_MoreRowsThanMaxRowsPerInsert_SplitIntoInsertsAndAllStored()
    {
        string db = await NewSchemaAsync(server, "large");
        using ClickHouseStore store = Batches.Store(server.Url, db, o => o.MaxRowsPerInsert = 1000);
        var inputs = new List<Input>();
        for (int i = 0; i < 2500; i++)
        {
            inputs.Add(new Input("big", T0 + (i * 1000L), $"203.0.113.{(i % 200) + 1}", $"198.18.{i / 250}.{i % 250}", 6, 23, TrafficClass.TcpSyn, (uint)(40 + (i % 7))));
        }

        var events = new RecordingEvents();
        await Batches.Sink(store, events).WriteAsync(Batches.Build(inputs), CancellationToken.None);

        Assert.Equal("2500|2500|2500|" + inputs.Sum(p => (long)p.IpBytes), string.Join('|',
            (await server.RowsAsync($"SELECT count(), sum(packets), uniqExact(dst_ip), sum(ip_bytes) FROM {db}.target_port_1m"))[0]));
        Assert.Equal(2500, await server.ScalarAsync($"SELECT sum(targets) FROM {db}.source_1m"));

        // Two inserts run at once, so they may finish in either order.
        Assert.Equal([500L, 1000, 1000], events.Flushed.Where(f => f.Table == Schema.TargetTable).Select(f => f.Rows).Order());

        // Every INSERT makes a block of its own; 2500 rows at 1000 per insert are three.
        Assert.Equal(3, await server.ScalarAsync(
            $"SELECT max(max_block_number) FROM system.parts WHERE database = '{db}' AND table = '{Schema.TargetTable}'"));
        Assert.Equal(1, await server.ScalarAsync(
            $"SELECT max(max_block_number) FROM system.parts WHERE database = '{db}' AND table = '{Schema.PortTable}'"));
    }

    /// <summary>
    /// Each insert is held for a while on its way to the server: the sink keeps as many in flight
    /// as it is allowed, never more, and every row still lands once.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task WriteAsync_SlowInserts_KeepsConcurrentInsertsInFlight(int concurrent)
    {
        string db = await NewSchemaAsync(server, $"inflight{concurrent}");
        using var proxy = new FaultInjectingProxy(server.Url, FreePort.Get(), _ => false, TimeSpan.FromMilliseconds(200));
        using ClickHouseStore store = Batches.Store(proxy.Url, db, o =>
        {
            o.MaxRowsPerInsert = 1000;
            o.ConcurrentInserts = concurrent;
        });
        var inputs = new List<Input>();
        for (int i = 0; i < 4500; i++)
        {
            inputs.Add(new Input("inflight", T0 + i, $"203.0.113.{(i % 100) + 1}", $"198.18.{i / 250}.{i % 250}", 6, 445, TrafficClass.TcpSyn, 40));
        }

        await Batches.Sink(store, new RecordingEvents()).WriteAsync(Batches.Build(inputs), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        // 5 target, 1 port and 1 source insert.
        Assert.Equal(7, proxy.Inserts);
        Assert.Equal(concurrent, proxy.MaxInFlight);
        Assert.Equal("4500|4500|4500", string.Join('|',
            (await server.RowsAsync($"SELECT count(), sum(packets), uniqExact(dst_ip) FROM {db}.target_port_1m"))[0]));
        Assert.Equal(4500, await server.ScalarAsync($"SELECT sum(packets) FROM {db}.source_1m"));
        Assert.Equal(4500, await server.ScalarAsync($"SELECT sum(targets) FROM {db}.source_1m"));
    }

    [Fact]
    public async Task WriteAsync_OneOfSeveralInsertsFails_RetryStoresEveryRowExactlyOnce()
    {
        string db = await NewSchemaAsync(server, "partial");
        using var proxy = new FaultInjectingProxy(server.Url, FreePort.Get(), insert => insert == 2);
        using ClickHouseStore store = Batches.Store(proxy.Url, db, o =>
        {
            o.MaxRowsPerInsert = 1000;
            o.RetryDelay = TimeSpan.FromMilliseconds(20);
        });
        var inputs = new List<Input>();
        for (int i = 0; i < 2500; i++)
        {
            inputs.Add(new Input("chunks", T0 + i, "203.0.113.1", $"198.18.{i / 250}.{i % 250}", 17, 53, TrafficClass.Udp, 60));
        }

        var events = new RecordingEvents();
        await Batches.Sink(store, events).WriteAsync(Batches.Build(inputs), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        // The second 1000-row insert of target_port_1m failed once; nothing may be stored twice.
        Assert.Equal(1, proxy.Failed);
        Assert.Equal([Schema.TargetTable], events.Failed);
        Assert.Equal("2500|2500|2500", string.Join('|',
            (await server.RowsAsync($"SELECT count(), sum(packets), uniqExact(dst_ip) FROM {db}.target_port_1m"))[0]));
        Assert.Equal(2500, await server.ScalarAsync($"SELECT sum(packets) FROM {db}.port_1m"));
        Assert.Equal(2500, await server.ScalarAsync($"SELECT sum(packets) FROM {db}.source_1m"));
    }

    [Fact]
    public async Task WriteAsync_ServerUnreachable_RetriesAndReportsFailuresUntilCancelled()
    {
        int deadPort = FreePort.Get();
        using ClickHouseStore store = Batches.Store(new Uri($"http://127.0.0.1:{deadPort}"), "nowhere", o =>
        {
            o.RetryDelay = TimeSpan.FromMilliseconds(20);
            o.MaxRetryDelay = TimeSpan.FromMilliseconds(100);
        });
        var events = new RecordingEvents();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Task write = Batches.Sink(store, events).WriteAsync(Batches.Build(Mix(1, 50)), cancel.Token);

        await WaitForAsync(() => events.Failed.Count >= 5, "five failed attempts");
        Assert.False(write.IsCompleted, "the sink must keep retrying while the server is unreachable");
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write);
        // The first two inserts (target and port rows) retry side by side; the third waits for them.
        Assert.All(events.Failed, table => Assert.Contains(table, new[] { Schema.TargetTable, Schema.PortTable }));
        Assert.Contains(Schema.TargetTable, events.Failed);
        Assert.Empty(events.Flushed);
    }

    [Fact]
    public async Task WriteAsync_ServerComesUpLater_RetriedInsertStoresEverything()
    {
        int port = FreePort.Get();
        string db = ClickHouseServer.NewDatabase("late");
        using ClickHouseStore store = Batches.Store(new Uri($"http://127.0.0.1:{port}"), db, o =>
        {
            o.RetryDelay = TimeSpan.FromMilliseconds(50);
            o.MaxRetryDelay = TimeSpan.FromMilliseconds(200);
        });
        var events = new RecordingEvents();
        List<Input> inputs = Mix(3, 300);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        Task write = Batches.Sink(store, events).WriteAsync(Batches.Build(inputs), cancel.Token);
        await WaitForAsync(() => events.Failed.Count >= 2, "two failed attempts");

        using ClickHouseServer late = ClickHouseServer.StartOnPort(port);
        using (ClickHouseStore schema = Batches.Store(late.Url, db))
        {
            await schema.EnsureSchemaAsync();
        }

        await write.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(inputs.Count, await late.ScalarAsync($"SELECT sum(packets) FROM {db}.port_1m"));
        Assert.Equal(inputs.Count, await late.ScalarAsync($"SELECT sum(packets) FROM {db}.target_port_1m"));
        Assert.Equal(inputs.Count, await late.ScalarAsync($"SELECT sum(packets) FROM {db}.source_1m"));
        Assert.Equal([Schema.PortTable, Schema.SourceTable, Schema.TargetTable], events.Flushed.Select(f => f.Table).Order(StringComparer.Ordinal));
        Assert.True(events.Failed.Count >= 2);
    }

    [Fact]
    public async Task ReadmeQueries_On1816_RunAndAggregate()
    {
        string db = await NewSchemaAsync(server, "readme");
        using ClickHouseStore store = Batches.Store(server.Url, db);
        await Batches.Sink(store, new RecordingEvents()).WriteAsync(Batches.Build(Mix(5, 500)), CancellationToken.None);

        string readme = await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "README.md"));
        var queries = new List<string>();
        foreach (string block in readme.Split("```sql").Skip(1).Select(b => b[..b.IndexOf("```", StringComparison.Ordinal)]))
        {
            queries.AddRange(block.Split(';').Select(q => q.Trim()).Where(q => q.Contains("SELECT", StringComparison.Ordinal)));
        }

        Assert.NotEmpty(queries);
        foreach (string query in queries)
        {
            await server.QueryAsync(query.Replace("darknet.", db + ".", StringComparison.Ordinal));
        }
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(30), $"no {what} within 30 s");
            await Task.Delay(20);
        }
    }
}
