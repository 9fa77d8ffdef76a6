using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;

namespace Telemetry.Core.Tests.Aggregation;

public class WindowTablesTests
{
    private static RollupInput Input(uint source, uint destination, ushort port, long ts, uint bytes = 60, TrafficClass trafficClass = TrafficClass.TcpSyn) => new()
    {
        TimestampNs = ts,
        Source = IpAddr.FromV4(source),
        Destination = IpAddr.FromV4(destination),
        IpBytes = bytes,
        Port = port,
        Protocol = 6,
        Class = trafficClass,
    };

    /// <summary>200 packets: 3 targets × 2 ports, 100 sources.</summary>
    private static List<RollupInput> Packets(int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, 200).Select(i => Input(
            0x0A000000u + (uint)random.Next(100), 0xCB007100u + (uint)random.Next(3), (ushort)(random.Next(2) == 0 ? 23 : 80),
            1000 + random.Next(1000), (uint)random.Next(40, 1500)))];
    }

    private static WindowTables Fill(IEnumerable<RollupInput> packets)
    {
        var tables = new WindowTables(3, 60);
        foreach (RollupInput packet in packets)
        {
            tables.Add(packet);
        }

        return tables;
    }

    [Fact]
    public void Add_PacketsOfOneKey_SumsAndTracksFirstLastAndSources()
    {
        var tables = new WindowTables(0, 0);
        tables.Add(Input(1, 9, 23, ts: 5_500_000_000, bytes: 40));
        tables.Add(Input(2, 9, 23, ts: 1_999_999_999, bytes: 60));
        tables.Add(Input(1, 9, 23, ts: 9_000_000_001, bytes: 44));

        var key = new AddressPortKey(IpAddr.FromV4(9), new PortKey(6, TrafficClass.TcpSyn, 23));
        TargetStats target = tables.Targets[key];
        Assert.Equal(3UL, target.Packets);
        Assert.Equal(144UL, target.Bytes);
        Assert.Equal(1U, target.FirstSecond);
        Assert.Equal(9U, target.LastSecond);
        Assert.Equal(2UL, target.Sources);
        PortStats port = Assert.Single(tables.Ports).Value;
        Assert.Equal(3UL, port.Packets);
        Assert.Equal(2UL, port.Sources);
        Assert.Equal(1UL, port.Targets);
        Assert.Equal(2, tables.Sources.Count);
        Assert.Equal(2UL, tables.Sources[new AddressPortKey(IpAddr.FromV4(1), key.Port)].Packets);
        Assert.Equal(4, tables.KeyCount);
        Assert.True(tables.ApproximateBytes > 0);
    }

    [Fact]
    public void Add_HundredsOfThousandsOfPackets_DistinctCountsEqualBruteForce()
    {
        // One hot target port probed by 20,000 sources and scanners sweeping thousands of
        // targets: sets far past any small-set limit, counted exactly.
        var random = new Random(21);
        var packets = new List<RollupInput>();
        for (int i = 0; i < 300_000; i++)
        {
            packets.Add(random.Next(3) == 0
                ? Input(0x0B000000u + (uint)random.Next(20_000), 0xCB000001u, 23, i)
                : Input(0x0C000000u + (uint)random.Next(40), 0xCB000000u + (uint)random.Next(50_000), (ushort)(random.Next(2) == 0 ? 22 : 445), i));
        }

        WindowTables tables = Fill(packets);

        var targetSources = new Dictionary<AddressPortKey, HashSet<IpAddr>>();
        var sourceTargets = new Dictionary<AddressPortKey, HashSet<IpAddr>>();
        var portSources = new Dictionary<PortKey, HashSet<IpAddr>>();
        var portTargets = new Dictionary<PortKey, HashSet<IpAddr>>();
        foreach (RollupInput p in packets)
        {
            var port = new PortKey(p.Protocol, p.Class, p.Port);
            Set(targetSources, new AddressPortKey(p.Destination, port)).Add(p.Source);
            Set(sourceTargets, new AddressPortKey(p.Source, port)).Add(p.Destination);
            Set(portSources, port).Add(p.Source);
            Set(portTargets, port).Add(p.Destination);
        }

        Assert.Equal(targetSources.Count, tables.Targets.Count);
        Assert.Equal(sourceTargets.Count, tables.Sources.Count);
        Assert.True(targetSources.Values.Max(s => s.Count) > 15_000);
        Assert.True(sourceTargets.Values.Max(s => s.Count) > 2_000);
        Assert.All(targetSources, pair => Assert.Equal((ulong)pair.Value.Count, tables.Targets[pair.Key].Sources));
        Assert.All(sourceTargets, pair => Assert.Equal((ulong)pair.Value.Count, tables.Sources[pair.Key].Targets));
        Assert.All(portSources, pair => Assert.Equal((ulong)pair.Value.Count, tables.Ports[pair.Key].Sources));
        Assert.All(portTargets, pair => Assert.Equal((ulong)pair.Value.Count, tables.Ports[pair.Key].Targets));

        static HashSet<IpAddr> Set<TKey>(Dictionary<TKey, HashSet<IpAddr>> sets, TKey key)
            where TKey : notnull
        {
            if (!sets.TryGetValue(key, out HashSet<IpAddr>? set))
            {
                sets[key] = set = [];
            }

            return set;
        }
    }

    [Fact]
    public void Add_DifferentClassOrProtocol_SeparateKeys()
    {
        var tables = new WindowTables(0, 0);
        tables.Add(Input(1, 9, 23, 0));
        tables.Add(Input(1, 9, 23, 0, trafficClass: TrafficClass.TcpSynAck));
        tables.Add(Input(1, 9, 23, 0) with { Protocol = 17, Class = TrafficClass.Udp });
        Assert.Equal(3, tables.Targets.Count);
        Assert.Equal(3, tables.Ports.Count);
        Assert.Equal(3, tables.Sources.Count);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Merge_ShardPartials_TogetherEqualOneTableOfAllPackets(int shardCount)
    {
        // Shards as the ingestor routes them: every packet to its destination's shard (here by
        // the address modulo the shard count), so most sources have a row in several partials.
        // Some sources are IPv6, whose keys hold an index that differs from table to table.
        var random = new Random(4);
        List<RollupInput> packets = [.. Packets(1), .. Packets(2), .. Enumerable.Range(0, 100).Select(i => Input(0, 0xCB007100u + (uint)random.Next(3), 23, 1500) with
        {
            Source = IpAddr.Parse($"2001:db8::{random.Next(5) + 1}"),
        })];
        WindowTables whole = Fill(packets);
        WindowTables[] shards = [.. Enumerable.Range(0, shardCount).Select(_ => new WindowTables(3, 60))];
        foreach (RollupInput packet in packets)
        {
            shards[(int)(packet.Destination.V4 % (uint)shardCount)].Add(packet);
        }

        int inSeveral = whole.Sources.Keys.Count(key => shards.Count(t => t.Sources.ContainsKey(key)) > 1);
        Assert.True(inSeveral > 50, $"{inSeveral} sources in several partials");
        Assert.Contains(whole.Sources.Keys, key => !key.Address.IsV4 && shards.Count(t => t.Sources.ContainsKey(key)) > 1);

        // A key held by several partials is charged once after the merge.
        long extraCharges = whole.Sources.Keys
            .Sum(key => (shards.Count(t => t.Sources.ContainsKey(key)) - 1) * ((long)WindowTables.SourceEntryBytes + (key.Address.IsV4 ? 0 : WindowTables.V6AddressBytes)))
            + whole.Ports.Keys.Sum(key => (shards.Count(t => t.Ports.ContainsKey(key)) - 1) * (long)WindowTables.PortEntryBytes);
        long bytesBefore = shards.Sum(t => t.ApproximateBytes);
        long capacityBefore = shards.Sum(t => t.Sources.CapacityBytes);

        List<WindowTables> merged = [shards[0]];
        foreach (WindowTables partial in shards.Skip(1))
        {
            WindowTables.Merge(merged, partial);
            Assert.Empty(partial.Ports);
        }

        Assert.Equal(shards, merged);
        Assert.Equal(bytesBefore - extraCharges, shards.Sum(t => t.ApproximateBytes));
        Assert.Equal(whole.Targets.Keys.Order(Comparer), shards.SelectMany(t => t.Targets.Keys).Order(Comparer));
        foreach ((AddressPortKey key, TargetStats expected) in whole.Targets)
        {
            TargetStats actual = shards.Single(t => t.Targets.ContainsKey(key)).Targets[key];
            Assert.Equal((expected.Packets, expected.Bytes, expected.FirstSecond, expected.LastSecond, expected.Sources),
                (actual.Packets, actual.Bytes, actual.FirstSecond, actual.LastSecond, actual.Sources));
        }

        Assert.Equal(whole.Ports.Count, shards[0].Ports.Count);
        foreach ((PortKey key, PortStats expected) in whole.Ports)
        {
            PortStats actual = shards[0].Ports[key];
            Assert.Equal((expected.Packets, expected.Bytes, expected.Sources, expected.Targets),
                (actual.Packets, actual.Bytes, actual.Sources, actual.Targets));
        }

        // Each source row is in one partial now, and no table grew.
        Assert.Equal(whole.Sources.Keys.Order(Comparer), shards.SelectMany(t => t.Sources.Keys).Order(Comparer));
        Assert.Equal(capacityBefore, shards.Sum(t => t.Sources.CapacityBytes));
        foreach ((AddressPortKey key, SourceStats expected) in whole.Sources)
        {
            SourceStats actual = shards.Single(t => t.Sources.ContainsKey(key)).Sources[key];
            Assert.Equal((expected.Packets, expected.Bytes, expected.Targets), (actual.Packets, actual.Bytes, actual.Targets));
        }

        whole.Clear();
        foreach (WindowTables partial in shards)
        {
            partial.Clear();
        }
    }

    [Fact]
    public void Merge_TakingEverySourceRow_LeavesThePartialReusableForTheNextWindow()
    {
        // A scan: a few sources, every one of them seen by both shards, so the merge takes
        // every source row out of the second partial. Both partials then serve the next window.
        var random = new Random(9);
        List<RollupInput> packets = [.. Enumerable.Range(0, 5_000).Select(i => Input(
            0x0A000000u + (uint)random.Next(4), 0xCB000000u + (uint)random.Next(20_000), 23, 1000 + i))];
        WindowTables whole = Fill(packets);
        WindowTables[] shards = [new WindowTables(3, 60), new WindowTables(3, 60)];
        for (int window = 0; window < 3; window++)
        {
            foreach (RollupInput packet in packets)
            {
                shards[(int)(packet.Destination.V4 & 1)].Add(packet);
            }

            Assert.Equal(4, shards[1].Sources.Count);
            WindowTables.Merge([shards[0]], shards[1]);

            Assert.Empty(shards[1].Sources);
            foreach ((AddressPortKey key, SourceStats expected) in whole.Sources)
            {
                SourceStats actual = shards[0].Sources[key];
                Assert.Equal((expected.Packets, expected.Bytes, expected.Targets), (actual.Packets, actual.Bytes, actual.Targets));
            }

            Assert.Equal(whole.Ports.Single().Value.Sources, shards[0].Ports.Single().Value.Sources);
            shards[0].Clear();
            shards[1].Clear();
        }
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(1, true)]
    [InlineData(16, true)]
    [InlineData(17, false)]
    [InlineData(33, true)]
    [InlineData(290, true)]
    [InlineData(290, false)]
    public void PrefetchPipeline_Batch_EachPacketGetsItsOwnKeysAndRowsMatchPlainAdd(int count, bool twoStage)
    {
        // IPv4 and IPv6 targets and sources and a 0.0.0.0 source: the keys worked out ahead for
        // IPv4 addresses, and the table's own path for IPv6 ones.
        var random = new Random(7);
        RollupInput[] items = [.. Packets(5).Concat(Enumerable.Range(0, 90).Select(i => (i % 3) switch
        {
            0 => Input(0, 0xCB007100u + (uint)random.Next(3), 23, 1500) with { Source = IpAddr.Parse($"2001:db8::{random.Next(5) + 1}") },
            1 => Input(0x0A000000u + (uint)random.Next(4), 0, 80, 1500) with { Destination = IpAddr.Parse($"2001:db8:1::{random.Next(3) + 1}") },
            _ => Input(0, 0xCB007100u + (uint)random.Next(3), 80, 1500),
        })).OrderBy(_ => random.Next()).Take(count)];
        Assert.Equal(count, items.Length);
        var pipeline = new PrefetchPipeline();
        var tables = new WindowTables(3, 60);

        pipeline.Start(items, count, tables, twoStage);
        for (int i = 0; i < count; i++)
        {
            PacketKeys keys = pipeline.Next(items, i, count, tables, twoStage);
            var expected = new PacketKeys(items[i]);
            Assert.Equal(
                (expected.Target, expected.TargetHash, expected.Source, expected.SourceHash, expected.Port, expected.PortHash, expected.TargetV4, expected.SourceV4),
                (keys.Target, keys.TargetHash, keys.Source, keys.SourceHash, keys.Port, keys.PortHash, keys.TargetV4, keys.SourceV4));
            Assert.Equal(items[i].Destination.IsV4, keys.TargetV4);
            Assert.Equal(items[i].Source.IsV4 ? items[i].Source.V4 : 0, keys.Source.Address);
            tables.Add(items[i], keys);
        }

        // Against the packets themselves: Add with keys worked out ahead, IPv6 and 0.0.0.0 included.
        foreach (IGrouping<AddressPortKey, RollupInput> row in items.GroupBy(p => new AddressPortKey(p.Destination, new PortKey(p.Protocol, p.Class, p.Port))))
        {
            TargetStats actual = tables.Targets[row.Key];
            Assert.Equal(((ulong)row.Count(), (uint)row.Select(p => p.Source).Distinct().Count()), (actual.Packets, actual.Sources));
        }

        foreach (IGrouping<AddressPortKey, RollupInput> row in items.GroupBy(p => new AddressPortKey(p.Source, new PortKey(p.Protocol, p.Class, p.Port))))
        {
            SourceStats actual = tables.Sources[row.Key];
            Assert.Equal(((ulong)row.Count(), (uint)row.Select(p => p.Destination).Distinct().Count()), (actual.Packets, actual.Targets));
        }

        Assert.Equal(items.Select(p => (p.Destination, p.Protocol, p.Class, p.Port)).Distinct().Count(), tables.Targets.Count);
        Assert.Equal(items.Select(p => (p.Source, p.Protocol, p.Class, p.Port)).Distinct().Count(), tables.Sources.Count);

        // And against plain Add (which makes the same keys itself): every field and the memory charge.
        WindowTables plain = Fill(items);
        Assert.Equal(plain.ApproximateBytes, tables.ApproximateBytes);
        Assert.Equal(plain.Sizes, tables.Sizes);
        Assert.Equal(
            plain.Targets.Select(row => (row.Key, row.Value.Packets, row.Value.Bytes, row.Value.Sources, row.Value.FirstSecond, row.Value.LastSecond)),
            tables.Targets.Select(row => (row.Key, row.Value.Packets, row.Value.Bytes, row.Value.Sources, row.Value.FirstSecond, row.Value.LastSecond)));
        Assert.Equal(
            plain.Sources.Select(row => (row.Key, row.Value.Packets, row.Value.Bytes, row.Value.Targets)),
            tables.Sources.Select(row => (row.Key, row.Value.Packets, row.Value.Bytes, row.Value.Targets)));
        Assert.Equal(plain.Ports.Select(row => (row.Key, row.Value.Packets, row.Value.Sources, row.Value.Targets)), tables.Ports.Select(row => (row.Key, row.Value.Packets, row.Value.Sources, row.Value.Targets)));
        if (count == 290)
        {
            Assert.Contains(tables.Sources.Keys, key => !key.Address.IsV4);
            Assert.Contains(tables.Targets.Keys, key => !key.Address.IsV4);
            Assert.Contains(tables.Sources.Keys, key => key.Address == IpAddr.FromV4(0));
        }
    }

    private static readonly Comparer<AddressPortKey> Comparer = Comparer<AddressPortKey>.Create((x, y) =>
        (x.Address.Lo, x.Port.Packed).CompareTo((y.Address.Lo, y.Port.Packed)));

    [Fact]
    public void Clear_FilledTables_EmptyWithNoBytesAndReusable()
    {
        WindowTables tables = Fill(Packets(3));
        tables.IsEarly = true;

        tables.Clear();
        tables.Reset(5, 120);

        Assert.Equal(0, tables.KeyCount);
        Assert.Equal(0, tables.ApproximateBytes);
        Assert.False(tables.IsEarly);
        Assert.Equal(5, tables.SensorId);
        Assert.Equal(120, tables.WindowStartNs);
        tables.Add(Input(1, 2, 3, 4));
        Assert.Equal(1UL, tables.Targets.Single().Value.Sources);
    }

    [Fact]
    public void PortKey_Packed_RoundTripsFields()
    {
        var key = new PortKey(58, TrafficClass.IcmpBackscatter, 0x0103);
        Assert.Equal(58, key.Protocol);
        Assert.Equal(TrafficClass.IcmpBackscatter, key.Class);
        Assert.Equal(0x0103, key.Port);
        Assert.Equal((58u << 24) | ((uint)TrafficClass.IcmpBackscatter << 16) | 0x0103, key.Packed);
        Assert.NotEqual(key, new PortKey(1, TrafficClass.IcmpBackscatter, 0x0103));
    }
}
