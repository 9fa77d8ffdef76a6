using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;

namespace Telemetry.Core.Tests.Support;

/// <summary>What one rollup row holds (or several partial rows of one key add up to).</summary>
internal readonly record struct Totals(ulong Packets, ulong Bytes, long DistinctA, long DistinctB, long FirstSecond, long LastSecond);

/// <summary>
/// Computes the three rollup tables from the test packets with LINQ, independently of the engine,
/// and compares them with what the sink received.
/// </summary>
internal static class Rollups
{
    public static long WindowOf(long ts, long windowNs) => ts - (((ts % windowNs) + windowNs) % windowNs);

    /// <param name="singleRowPerKey">
    /// True when every key must arrive in exactly one row (no early or late partials); distinct
    /// counts are then compared too, exactly.
    /// </param>
    public static void AssertMatch(RecordingSink sink, string sensor, IEnumerable<Expected> packets, long windowNs, bool singleRowPerKey)
    {
        List<Expected> expected = [.. packets];
        Assert.All(sink.Windows, w => Assert.Equal(0, w.WindowStartNs % windowNs));

        Compare(
            "target",
            expected.GroupBy(p => (WindowOf(p.TimestampNs, windowNs), p.Destination, new PortKey(p.Protocol, p.Class, p.Port))),
            g => Distinct(g, p => p.Source),
            _ => 0,
            sink.Targets.Where(r => r.Window.Sensor == sensor)
                .Select(r => ((r.Window.WindowStartNs, r.Destination, new PortKey(r.Protocol, r.Class, r.Port)),
                    new Totals(r.Packets, r.Bytes, r.Sources, 0, r.FirstSecond, r.LastSecond))),
            singleRowPerKey);
        Compare(
            "port",
            expected.GroupBy(p => (WindowOf(p.TimestampNs, windowNs), new PortKey(p.Protocol, p.Class, p.Port))),
            g => Distinct(g, p => p.Source),
            g => Distinct(g, p => p.Destination),
            sink.Ports.Where(r => r.Window.Sensor == sensor)
                .Select(r => ((r.Window.WindowStartNs, new PortKey(r.Protocol, r.Class, r.Port)), new Totals(r.Packets, r.Bytes, r.Sources, r.Targets, 0, 0))),
            singleRowPerKey,
            timesKept: false);
        Compare(
            "source",
            expected.GroupBy(p => (WindowOf(p.TimestampNs, windowNs), p.Source, new PortKey(p.Protocol, p.Class, p.Port))),
            g => Distinct(g, p => p.Destination),
            _ => 0,
            sink.Sources.Where(r => r.Window.Sensor == sensor)
                .Select(r => ((r.Window.WindowStartNs, r.Source, new PortKey(r.Protocol, r.Class, r.Port)), new Totals(r.Packets, r.Bytes, r.Targets, 0, 0, 0))),
            singleRowPerKey,
            timesKept: false);
    }

    private static long Distinct(IEnumerable<Expected> packets, Func<Expected, IpAddr> address) => packets.Select(address).Distinct().Count();

    private static void Compare<TKey>(
        string table,
        IEnumerable<IGrouping<TKey, Expected>> expectedGroups,
        Func<IGrouping<TKey, Expected>, long> distinctA,
        Func<IGrouping<TKey, Expected>, long> distinctB,
        IEnumerable<(TKey Key, Totals Row)> rows,
        bool singleRowPerKey,
        bool timesKept = true)
        where TKey : notnull
    {
        Dictionary<TKey, Totals> expected = expectedGroups.ToDictionary(
            g => g.Key,
            g => new Totals((ulong)g.Count(), g.Aggregate(0UL, (sum, p) => sum + p.IpBytes), distinctA(g), distinctB(g),
                UnixSeconds.From(g.Min(p => p.TimestampNs)), UnixSeconds.From(g.Max(p => p.TimestampNs))));
        Dictionary<TKey, List<Totals>> actual = rows.GroupBy(r => r.Key).ToDictionary(g => g.Key, g => g.Select(r => r.Row).ToList());

        List<TKey> missing = [.. expected.Keys.Where(k => !actual.ContainsKey(k))];
        List<TKey> extra = [.. actual.Keys.Where(k => !expected.ContainsKey(k))];
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"{table} rows: missing {string.Join("; ", missing.Take(5))}; unexpected {string.Join("; ", extra.Take(5))}");
        foreach ((TKey key, Totals e) in expected)
        {
            List<Totals> parts = actual[key];
            ulong packets = parts.Aggregate(0UL, (sum, p) => sum + p.Packets);
            ulong bytes = parts.Aggregate(0UL, (sum, p) => sum + p.Bytes);
            Assert.True(packets == e.Packets && bytes == e.Bytes, $"{table} {key}: {packets} packets / {bytes} bytes instead of {e.Packets} / {e.Bytes}");
            if (timesKept)
            {
                Assert.True(parts.Min(p => p.FirstSecond) == e.FirstSecond && parts.Max(p => p.LastSecond) == e.LastSecond, $"{table} {key}: first/last timestamps differ");
            }

            if (singleRowPerKey)
            {
                Assert.True(parts.Count == 1, $"{table} {key}: {parts.Count} rows");
                AssertDistinct(e.DistinctA, parts[0].DistinctA, $"{table} {key}");
                AssertDistinct(e.DistinctB, parts[0].DistinctB, $"{table} {key}");
            }
        }
    }

    public static void AssertDistinct(long expected, long actual, string context)
    {
        Assert.True(actual == expected, $"{context}: {actual} distinct instead of {expected}");
    }

    /// <summary>Packets per class, as the sensor's running totals must hold them.</summary>
    public static long[] ClassPackets(IEnumerable<Expected> packets)
    {
        long[] counts = new long[TrafficClasses.Count];
        foreach (Expected p in packets)
        {
            counts[(int)p.Class]++;
        }

        return counts;
    }
}
