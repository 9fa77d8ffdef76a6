using System.Diagnostics;
using System.Globalization;
using Telemetry.Core.Aggregation;

namespace Telemetry.Benchmarks;

/// <summary>
/// Where the hot path's time goes, table by table: the 1 M packets of <see cref="HotPathBenchmarks"/>
/// decoded into batches of 2048 and then (a) nothing more, (b) added to the target table only,
/// (c) to the target and source tables, (d) to those and the port table, (e) through
/// <see cref="WindowTables.Add"/> (all three and the fingerprint set), each prefetching as the
/// shard does (slots 16 packets ahead, entries 8). Then the target table step by step: (f) only
/// the slot prefetches, (g) and the entry prefetches (which read the slots), (h) and a read-only
/// lookup of each packet's row in a table that already holds every row, (i) the same with the
/// row's update, as (b) does from an empty table. The parts run in turn in every round, so they
/// share the machine's state; prints each part's median over the rounds and what it adds to the
/// part before it (the steps, to decoding). Run pinned to one core (<c>taskset -c 1</c>).
/// </summary>
internal static class HotPathParts
{
    private const int Packets = HotPathBenchmarks.Packets;
    private const int Distance = PrefetchPipeline.Distance;

    private static readonly string[] Parts = ["decode", "targets", "+sources", "+ports", "Add", "T slots", "T +entries", "T +lookup", "T +update"];

    // Parts from this one on are the target-table steps; the last two work on a table that holds every row already.
    private const int FirstStep = 5;
    private const int FirstOnFullTable = 7;

    private static readonly PrefetchPipeline Prefetch = new();

    // Keeps the read-only lookups' sum alive.
    private static ulong s_sink;

    public static void Run(string[] args)
    {
        int rounds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 15;
        byte[] pcap = SyntheticCapture.Pcap(Packets);
        var tables = new WindowTables(0, 0);
        var full = new WindowTables(0, 0);
        var batch = new RollupInput[2048];
        HotPathBenchmarks.DecodeInBatches(pcap, batch, count => TargetSteps(full, batch, count, Parts.Length - 1));
        var times = Parts.Select(_ => new List<double>()).ToArray();
        TableSizes window = default;

        // A first pass of each part sizes the tables and compiles the loops.
        for (int round = -1; round < rounds; round++)
        {
            for (int part = 0; part < Parts.Length; part++)
            {
                long start = Stopwatch.GetTimestamp();
                Pass(pcap, part >= FirstOnFullTable ? full : tables, batch, part);
                window = part == FirstStep - 1 ? tables.Sizes : window;
                if (round >= 0)
                {
                    times[part].Add(Stopwatch.GetElapsedTime(start).TotalNanoseconds / Packets);
                }
            }
        }

        Console.WriteLine($"{Packets} packets, {rounds} rounds; the window holds {window.Targets} target, {window.Sources} source, {window.Ports} port rows, {window.Fingerprints} fingerprints");
        double before = 0;
        for (int part = 0; part < Parts.Length; part++)
        {
            times[part].Sort();
            double median = times[part][rounds / 2];
            before = part == FirstStep ? times[0][rounds / 2] : before;
            Console.WriteLine($"{Parts[part],-10} median {median,6:F1} ns/packet (runs {times[part][0]:F1}–{times[part][^1]:F1}){(part == 0 ? string.Empty : $", adds {median - before:F1}")}");
            before = median;
        }

        GC.KeepAlive(s_sink);
    }

    private static void Pass(byte[] pcap, WindowTables tables, RollupInput[] batch, int part)
    {
        if (part < FirstOnFullTable)
        {
            tables.Clear();
        }

        HotPathBenchmarks.DecodeInBatches(pcap, batch, count => Aggregate(tables, batch, count, part));
    }

    private static void Aggregate(WindowTables tables, RollupInput[] batch, int count, int part)
    {
        if (part == 0)
        {
            return;
        }

        if (part == FirstStep - 1)
        {
            HotPathBenchmarks.Aggregate(tables, Prefetch, batch, count);
            return;
        }

        if (part >= FirstStep)
        {
            TargetSteps(tables, batch, count, part);
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

    private static void TargetSteps(WindowTables tables, RollupInput[] batch, int count, int part)
    {
        ulong sum = 0;
        for (int i = 0; i < count; i++)
        {
            if (i + (2 * Distance) < count)
            {
                ref RollupInput ahead = ref batch[i + (2 * Distance)];
                tables.Targets.Prefetch(ahead.Destination, new PortKey(ahead.Protocol, ahead.Class, ahead.Port));
            }

            if (part > FirstStep && i + Distance < count)
            {
                ref RollupInput ahead = ref batch[i + Distance];
                tables.Targets.PrefetchEntry(ahead.Destination, new PortKey(ahead.Protocol, ahead.Class, ahead.Port));
            }

            ref RollupInput packet = ref batch[i];
            var port = new PortKey(packet.Protocol, packet.Class, packet.Port);
            if (part == FirstOnFullTable)
            {
                sum += tables.Targets.GetValueRefOrNullRef(packet.Destination, port).Packets;
            }
            else if (part > FirstOnFullTable)
            {
                tables.Targets.GetValueRefOrAddDefault(packet.Destination, port, out _).Packets++;
            }
        }

        s_sink += sum;
    }
}
