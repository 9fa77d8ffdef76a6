using System.Diagnostics;
using System.Globalization;
using Telemetry.Core.Aggregation;

namespace Telemetry.Benchmarks;

/// <summary>
/// Where the hot path's time goes, table by table: the 1 M packets of <see cref="HotPathBenchmarks"/>
/// decoded into batches of 2048 and then (a) nothing more, (b) added to the target table only,
/// (c) to the target and source tables, (d) to those and the port table, (e) through
/// <see cref="WindowTables.Add"/> (all three and the fingerprint set), each prefetching as the
/// shard does (slots 16 packets ahead, entries 8). The parts run in turn in every round, so they
/// share the machine's state; prints each part's median over the rounds and what it adds to the
/// part before. Run pinned to one core (<c>taskset -c 1</c>).
/// </summary>
internal static class HotPathParts
{
    private const int Packets = HotPathBenchmarks.Packets;
    private const int Distance = HotPathBenchmarks.PrefetchDistance;

    private static readonly string[] Parts = ["decode", "targets", "+sources", "+ports", "Add"];

    public static void Run(string[] args)
    {
        int rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 15;
        byte[] pcap = SyntheticCapture.Pcap(Packets);
        var tables = new WindowTables(0, 0);
        var batch = new RollupInput[2048];
        var times = Parts.Select(_ => new List<double>()).ToArray();

        // A first pass of each part sizes the tables and compiles the loops.
        for (int round = -1; round < rounds; round++)
        {
            for (int part = 0; part < Parts.Length; part++)
            {
                long start = Stopwatch.GetTimestamp();
                Pass(pcap, tables, batch, part);
                if (round >= 0)
                {
                    times[part].Add(Stopwatch.GetElapsedTime(start).TotalNanoseconds / Packets);
                }
            }
        }

        Console.WriteLine($"{Packets} packets, {rounds} rounds; the window holds {tables.Targets.Count} target, {tables.Sources.Count} source, {tables.Ports.Count} port rows, {tables.Seen.Count} fingerprints");
        double before = 0;
        for (int part = 0; part < Parts.Length; part++)
        {
            times[part].Sort();
            double median = times[part][rounds / 2];
            Console.WriteLine($"{Parts[part],-9} median {median,6:F1} ns/packet (runs {times[part][0]:F1}–{times[part][^1]:F1}){(part == 0 ? string.Empty : $", adds {median - before:F1}")}");
            before = median;
        }
    }

    private static void Pass(byte[] pcap, WindowTables tables, RollupInput[] batch, int part)
    {
        tables.Clear();
        HotPathBenchmarks.DecodeInBatches(pcap, batch, count => Aggregate(tables, batch, count, part));
    }

    private static void Aggregate(WindowTables tables, RollupInput[] batch, int count, int part)
    {
        if (part == 0)
        {
            return;
        }

        if (part == Parts.Length - 1)
        {
            HotPathBenchmarks.Aggregate(tables, batch, count);
            return;
        }

        bool sources = part >= 2;
        bool ports = part >= 3;
        for (int i = 0; i < count; i++)
        {
            if (i + (2 * Distance) < count)
            {
                ref RollupInput ahead = ref batch[i + (2 * Distance)];
                var aheadPort = new PortKey(ahead.Protocol, ahead.Class, ahead.Port);
                tables.Targets.Prefetch(ahead.Destination, aheadPort);
                if (sources)
                {
                    tables.Sources.Prefetch(ahead.Source, aheadPort);
                }
            }

            if (i + Distance < count)
            {
                ref RollupInput ahead = ref batch[i + Distance];
                var aheadPort = new PortKey(ahead.Protocol, ahead.Class, ahead.Port);
                tables.Targets.PrefetchEntry(ahead.Destination, aheadPort);
                if (sources)
                {
                    tables.Sources.PrefetchEntry(ahead.Source, aheadPort);
                }
            }

            ref RollupInput packet = ref batch[i];
            var port = new PortKey(packet.Protocol, packet.Class, packet.Port);
            tables.Targets.GetValueRefOrAddDefault(packet.Destination, port, out _).Packets++;
            if (sources)
            {
                tables.Sources.GetValueRefOrAddDefault(packet.Source, port, out _).Packets++;
            }

            if (ports)
            {
                tables.Ports.GetValueRefOrAddDefault(port, out _).Packets++;
            }
        }
    }
}
