using System.IO.Compression;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Ingest;
using Telemetry.Core.Tests.Support;
using Telemetry.Testing;
using static Telemetry.Core.Tests.Support.SampleCaptures;

namespace Telemetry.Core.Tests.Aggregation;

public class AggregationEngineTests
{
    private const long Second = 1_000_000_000;

    /// <summary>Four minutes of mixed traffic starting off a window boundary, plus a 300-source scan near the end.</summary>
    private static List<GeneratedPacket> MixedTraffic(int seed, int dstBase = 113)
    {
        long start = T0 + (17 * Second) + 300_000_000;
        long span = 240 * Second;
        List<GeneratedPacket> packets = Traffic.Generate(seed, 4000, start, span, dstBase: dstBase);
        packets.AddRange(Traffic.Scan(300, start + span - (2 * Second)));
        return packets;
    }

    private static List<Expected> Decodable(IEnumerable<GeneratedPacket> packets) => [.. packets.Where(p => p.Expected is not null).Select(p => p.Expected!)];

    private static void AssertIngested(IngestResult result, List<GeneratedPacket> packets)
    {
        List<Expected> expected = Decodable(packets);
        Assert.Null(result.Error);
        Assert.Equal(packets.Count, result.Packets);
        Assert.Equal(expected.Count, result.Decoded);
        Assert.Equal(expected.Sum(p => (long)p.IpBytes), result.Bytes);
    }

    private static void AssertSensorTotals(SensorState sensor, List<GeneratedPacket> packets)
    {
        List<Expected> expected = Decodable(packets);
        Assert.Equal(Rollups.ClassPackets(expected), sensor.ClassPackets);
        Assert.Equal(packets.Count, Interlocked.Read(ref sensor.PacketsSeen));
        Assert.Equal(packets.Count - expected.Count, sensor.Undecodable[(int)DecodeStatus.NonIp] + sensor.Undecodable[(int)DecodeStatus.BadIpHeader]);
        Assert.Equal(packets.Max(p => p.Packet.TimestampNs), sensor.MaxEventNs);
    }

    private static void AssertHealth(RecordingSink sink, string sensor, List<GeneratedPacket> packets, long windowNs)
    {
        var expected = packets
            .GroupBy(p => Rollups.WindowOf(p.Packet.TimestampNs, windowNs))
            .ToDictionary(g => g.Key, g => (Seen: (long)g.Count(), Decoded: (long)g.Count(p => p.Expected is not null), Wire: g.Sum(p => (long)(p.Packet.OriginalLength ?? p.Packet.Frame.Length))));
        var actual = sink.Health.Where(h => h.Sensor == sensor && h.PacketsSeen > 0)
            .GroupBy(h => h.WindowStartNs)
            .ToDictionary(g => g.Key, g => (Seen: g.Sum(h => h.PacketsSeen), Decoded: g.Sum(h => h.Decoded), Wire: g.Sum(h => h.WireBytes)));
        Assert.Equal(expected.OrderBy(p => p.Key), actual.OrderBy(p => p.Key));
    }

    [Theory]
    [InlineData(1, 60)]
    [InlineData(3, 60)]
    [InlineData(1, 10)]
    [InlineData(3, 10)]
    public async Task IngestAsync_MixedTraffic_RollupsMatchIndependentCount(int shards, int windowSeconds)
    {
        List<GeneratedPacket> packets = MixedTraffic(seed: 1);
        await using var harness = new EngineHarness(EngineHarness.Options(shards, windowSeconds));

        IngestResult result = await harness.IngestAsync("s1", Traffic.Pcap(packets));
        await harness.CompleteAsync();

        long windowNs = windowSeconds * Second;
        Assert.Equal(windowNs, harness.Engine.WindowNs);
        AssertIngested(result, packets);
        Rollups.AssertMatch(harness.Sink, "s1", Decodable(packets), windowNs, singleRowPerKey: true);
        Assert.DoesNotContain(harness.Sink.Windows, w => w.IsLate || w.IsEarly);
        Assert.Equal(
            Decodable(packets).Select(p => Rollups.WindowOf(p.TimestampNs, windowNs)).Distinct().Order(),
            harness.Sink.Windows.Select(w => w.WindowStartNs).Distinct().Order());
        AssertSensorTotals(harness.Sensor("s1"), packets);
        AssertHealth(harness.Sink, "s1", packets, windowNs);
        Assert.Equal(0, harness.Sensor("s1").LatePackets);
        Assert.Equal(0, harness.Engine.EarlyFlushes);
        Assert.Equal(0, harness.Engine.OpenKeys);
        Assert.Equal(0, harness.Engine.PendingWindows);

        // Top ports cover the newest window: every packet of it, in the top 20 or the "other" bucket.
        long newest = harness.Sink.Windows.Max(w => w.WindowStartNs);
        Assert.Equal(Decodable(packets).Count(p => Rollups.WindowOf(p.TimestampNs, windowNs) == newest), harness.Engine.TopPorts.Sum(p => p.Packets));
        Assert.Equal(-1, harness.Engine.TopPorts[^1].Port);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task IngestAsync_GzipPcapNgWithTwoLinkTypes_RollupsMatchIndependentCount(int shards)
    {
        // Odd packets go out on a raw-IP interface without their Ethernet header.
        List<GeneratedPacket> packets = MixedTraffic(seed: 2);
        var writer = new PcapNgWriter().Section(true, new NgInterface(LinkTypes.Ethernet), new NgInterface(LinkTypes.Raw, TsResol: 9));
        for (int i = 0; i < packets.Count; i++)
        {
            TestPacket p = packets[i].Packet;
            writer.Enhanced(i % 2 == 0 ? p : p with { Frame = p.Frame[14..], InterfaceId = 1, OriginalLength = p.OriginalLength - 14 });
        }

        await using var harness = new EngineHarness(EngineHarness.Options(shards));
        IngestResult result = await harness.IngestAsync("gz", Gzip.Compress(writer.ToArray()));
        await harness.CompleteAsync();

        AssertIngested(result, packets);
        Rollups.AssertMatch(harness.Sink, "gz", Decodable(packets), 60 * Second, singleRowPerKey: true);
        AssertSensorTotals(harness.Sensor("gz"), packets);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task IngestAsync_PacketsBehindWatermark_CountedLateAndFlaggedLate(int shards)
    {
        // On time: window A (T0 … T0+30 s) and, ten minutes on, the newest window.
        // Late, in a second stream: more for window A, and window C (T0+300 s) that nothing on time touched.
        List<GeneratedPacket> onTime = [.. Traffic.Generate(3, 500, T0, 30 * Second, jitterNs: 0), .. Traffic.Generate(4, 500, T0 + (600 * Second), 30 * Second, jitterNs: 0)];
        List<GeneratedPacket> late = [.. Traffic.Generate(5, 300, T0 + (5 * Second), 20 * Second, jitterNs: 0), .. Traffic.Generate(6, 200, T0 + (300 * Second), 20 * Second, jitterNs: 0)];
        await using var harness = new EngineHarness(EngineHarness.Options(shards));

        await harness.IngestAsync("s", Traffic.Pcap(onTime));
        IngestResult lateResult = await harness.IngestAsync("s", Traffic.Pcap(late));
        await harness.CompleteAsync();

        Assert.Null(lateResult.Error);
        List<Expected> lateDecoded = Decodable(late);
        Assert.Equal(lateDecoded.Count, harness.Sensor("s").LatePackets);
        Rollups.AssertMatch(harness.Sink, "s", Decodable([.. onTime, .. late]), 60 * Second, singleRowPerKey: false);
        long windowA = Rollups.WindowOf(T0, 60 * Second);
        long windowC = Rollups.WindowOf(T0 + (300 * Second), 60 * Second);
        Assert.All(harness.Sink.Windows.Where(w => w.WindowStartNs == windowC), w => Assert.True(w.IsLate));
        Assert.Contains(harness.Sink.Windows, w => w.WindowStartNs == windowA && w.IsLate);
        Assert.DoesNotContain(harness.Sink.Windows, w => w.WindowStartNs > windowC && w.IsLate);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task IngestAsync_TinyMemoryCap_FlushesEarlyAndConservesTotals(int shards)
    {
        List<GeneratedPacket> packets = MixedTraffic(seed: 7);
        AggregationOptions options = EngineHarness.Options(shards);
        options.MaxMemoryBytes = 1;
        options.BatchSize = 64;
        await using var harness = new EngineHarness(options);

        IngestResult result = await harness.IngestAsync("small", Traffic.Pcap(packets));
        await harness.CompleteAsync();

        AssertIngested(result, packets);
        Assert.True(harness.Engine.EarlyFlushes > 10, $"{harness.Engine.EarlyFlushes} early flushes");
        Assert.Contains(harness.Sink.Windows, w => w.IsEarly);
        List<Expected> expected = Decodable(packets);
        Rollups.AssertMatch(harness.Sink, "small", expected, 60 * Second, singleRowPerKey: false);
        Assert.Equal((ulong)expected.Count, harness.Sink.TotalPackets);
        Assert.Equal((ulong)expected.Count, harness.Sink.Ports.Aggregate(0UL, (sum, r) => sum + r.Packets));
        Assert.Equal((ulong)expected.Count, harness.Sink.Sources.Aggregate(0UL, (sum, r) => sum + r.Packets));
        Assert.Equal(expected.Sum(p => (long)p.IpBytes), (long)harness.Sink.Targets.Aggregate(0UL, (sum, r) => sum + r.Bytes));
    }

    [Fact]
    public async Task ReturnTables_NoRoomInThePool_GivesTheSlotsBack_ElseKeepsTheSetForTheNextWindow()
    {
        AggregationOptions noRoom = EngineHarness.Options(1);
        noRoom.MaxMemoryBytes = 1;
        await using (var harness = new EngineHarness(noRoom))
        {
            WindowTables dropped = harness.Engine.RentTables(0, 0, 0);
            harness.Engine.ReturnTables(dropped);
            Assert.True(dropped.Disposed);
            Assert.NotSame(dropped, harness.Engine.RentTables(0, 0, 60 * Second));
        }

        await using (var harness = new EngineHarness(EngineHarness.Options(1)))
        {
            WindowTables kept = harness.Engine.RentTables(0, 0, 0);
            harness.Engine.ReturnTables(kept);
            Assert.False(kept.Disposed);
            Assert.Same(kept, harness.Engine.RentTables(0, 0, 60 * Second));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task IngestAsync_TwoSensorsAtOnce_KeptSeparate(int shards)
    {
        // The same targets, ports and times on both sensors: only the sensor tells the rows apart.
        List<GeneratedPacket> first = MixedTraffic(seed: 8);
        List<GeneratedPacket> second = MixedTraffic(seed: 9)[..2500];
        await using var harness = new EngineHarness(EngineHarness.Options(shards));

        IngestResult[] results = await Task.WhenAll(
            harness.IngestAsync("north", Traffic.Pcap(first)),
            harness.IngestAsync("south", Traffic.Pcap(second)));
        await harness.CompleteAsync();

        AssertIngested(results[0], first);
        AssertIngested(results[1], second);
        Rollups.AssertMatch(harness.Sink, "north", Decodable(first), 60 * Second, singleRowPerKey: true);
        Rollups.AssertMatch(harness.Sink, "south", Decodable(second), 60 * Second, singleRowPerKey: true);
        AssertSensorTotals(harness.Sensor("north"), first);
        AssertSensorTotals(harness.Sensor("south"), second);
        AssertHealth(harness.Sink, "north", first, 60 * Second);
        AssertHealth(harness.Sink, "south", second, 60 * Second);
        Assert.Equal(["north", "south"], harness.Sink.Windows.Select(w => w.Sensor).Distinct().Order());
    }

    [Fact]
    public async Task SourceEndedAsync_LastSource_FlushesEveryWindowBeforeComplete()
    {
        List<GeneratedPacket> packets = MixedTraffic(seed: 10);
        ulong expected = (ulong)Decodable(packets).Count;
        await using var harness = new EngineHarness(EngineHarness.Options(3));
        SensorState sensor = harness.Sensor("live");
        AggregationEngine.SourceStarted(sensor);
        await harness.IngestAsync("live", Traffic.Pcap(packets));

        await harness.Engine.SourceEndedAsync(sensor, CancellationToken.None);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (harness.Sink.TotalPackets < expected && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(expected, harness.Sink.TotalPackets);
        Assert.Equal(0, harness.Engine.OpenKeys);
        await harness.CompleteAsync();
        Assert.Equal(expected, harness.Sink.TotalPackets);
        Rollups.AssertMatch(harness.Sink, "live", Decodable(packets), 60 * Second, singleRowPerKey: true);
    }

    [Fact]
    public async Task CompleteAsync_CalledTwice_WritesOnce()
    {
        List<GeneratedPacket> packets = Traffic.Generate(11, 200, T0, 10 * Second);
        await using var harness = new EngineHarness(EngineHarness.Options(2));
        await harness.IngestAsync("twice", Traffic.Pcap(packets));

        await harness.CompleteAsync();
        await harness.CompleteAsync();

        Assert.Equal((ulong)Decodable(packets).Count, harness.Sink.TotalPackets);
    }

    [Fact]
    public async Task IngestAsync_ByteAtATimeStream_SameRollupsAsWholeStream()
    {
        List<GeneratedPacket> packets = Traffic.Generate(12, 300, T0, 100 * Second);
        await using var harness = new EngineHarness(EngineHarness.Options(2));
        await using var stream = new TrickleStream(Gzip.Compress(Traffic.Pcap(packets)), seed: 12);

        IngestResult result = await harness.IngestAsync("trickle", stream);
        await harness.CompleteAsync();

        AssertIngested(result, packets);
        Rollups.AssertMatch(harness.Sink, "trickle", Decodable(packets), 60 * Second, singleRowPerKey: true);
    }

    /// <summary>A stream that returns one to three bytes per read, the way a slow sensor connection might.</summary>
    private sealed class TrickleStream(byte[] data, int seed) : MemoryStream(data, writable: false)
    {
        private readonly Random _random = new(seed);

        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, _random.Next(1, 4)));

        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, _random.Next(1, 4))]);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer, offset, count));
    }

    [Fact]
    public async Task ReturnedTables_GoBackToTheShardThatFilledThem()
    {
        // Two shards' partials of one window differ in size; a set lent to the other shard would
        // have to grow again (the 18 B/packet the sweep showed on two cores in some runs).
        await using var harness = new EngineHarness(EngineHarness.Options(2));
        AggregationEngine engine = harness.Engine;
        WindowTables filledByShard0 = engine.RentTables(0, 0, 0);
        WindowTables filledByShard1 = engine.RentTables(1, 0, 0);
        Assert.Equal([0, 1], new[] { filledByShard0.Shard, filledByShard1.Shard });
        long built = Interlocked.Read(ref engine.TableSetsBuilt);

        // Shard 1's set goes back first, so one shared last-in-first-out pool would hand shard 1 the other set.
        engine.ReturnTables(filledByShard1);
        engine.ReturnTables(filledByShard0);
        WindowTables forShard1 = engine.RentTables(1, 0, 60);
        WindowTables forShard0 = engine.RentTables(0, 0, 60);

        Assert.Same(filledByShard1, forShard1);
        Assert.Same(filledByShard0, forShard0);
        Assert.Equal(60, forShard1.WindowStartNs);

        // With its own pool empty, a shard borrows another's idle set rather than build one.
        engine.ReturnTables(forShard1);
        WindowTables borrowed = engine.RentTables(0, 0, 120);
        Assert.Same(filledByShard1, borrowed);
        Assert.Equal(0, borrowed.Shard);
        Assert.Equal(built, Interlocked.Read(ref engine.TableSetsBuilt));
    }

    [Fact]
    public async Task NextWindow_StartsAtTheSizeOfTheLast_AndNeverGrows()
    {
        // A 20,000-source scan in one minute, then the same in the next: the second window opens
        // while the first is still open (allowed lateness), so it gets a new set, not a pooled one.
        List<GeneratedPacket> first = Traffic.Scan(20_000, T0 + (5 * Second));
        List<GeneratedPacket> second = Traffic.Scan(20_000, T0 + (61 * Second));

        long growthsOfOne;
        await using (var one = new EngineHarness(EngineHarness.Options(1)))
        {
            await one.IngestAsync("s", Traffic.Pcap(first));
            await one.CompleteAsync();
            growthsOfOne = Interlocked.Read(ref one.Engine.TableGrowths);
        }

        await using var harness = new EngineHarness(EngineHarness.Options(1));
        await harness.IngestAsync("s", Traffic.Pcap([.. first, .. second]));
        await harness.CompleteAsync();

        Assert.True(growthsOfOne > 0, $"a window of 20,000 sources grew its tables {growthsOfOne} times");
        Assert.Equal(2, Interlocked.Read(ref harness.Engine.TableSetsBuilt));
        Assert.Equal(growthsOfOne, Interlocked.Read(ref harness.Engine.TableGrowths));
        Assert.Equal(2, harness.Sink.Windows.Select(w => w.WindowStartNs).Distinct().Count());
        Assert.Equal(40_000, harness.Sink.Sources.Count);
    }
}
