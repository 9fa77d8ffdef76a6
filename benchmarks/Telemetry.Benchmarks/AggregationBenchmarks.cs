using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;

namespace Telemetry.Benchmarks;

/// <summary>
/// Aggregation alone, on decoded packets held in memory: 2 M packets into one window's tables,
/// over a hot keyspace (1,000 targets) and a darknet-sized one (4 M possible target keys, so
/// about four packets in five insert a new target key), from 1,000 or 50,000 sources (with
/// 1,000 targets and 1,000 sources every table is small and in cache, and most packets consult
/// the fingerprint set, like the /23 point of the sweep).
/// <c>Add</c> is the bare insert; <c>AddPrefetched</c> is what a shard does once its open
/// windows hold 80,000 rows (about 4 MiB): it prefetches the table slots of the packet sixteen
/// ahead and, for the packet eight ahead, the entries those slots point to (and the fingerprint
/// slot when both rows look present); <c>AddPrefetchedOneStage</c> is what it does with fewer
/// rows: the slots and the fingerprint slot of the packet sixteen ahead. <c>TargetsDictionary</c>
/// and <c>TargetsKeyTable</c> put the same packets' target keys (packet and byte counts only) into a
/// <see cref="Dictionary{TKey, TValue}"/> and a <see cref="KeyTable{TKey, TValue}"/> side by
/// side: the data structure alone. Each operation is one packet.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class AggregationBenchmarks
{
    private const int Packets = 2_000_000;
    private RollupInput[] _packets = [];
    private readonly WindowTables _tables = new(0, 0);
    private readonly PrefetchPipeline _prefetch = new();
    private readonly Dictionary<AddressPortKey, TargetStats> _dictionary = [];
    private readonly KeyTable<AddressPortKey, TargetStats> _keyTable = new();

    [Params(1_000, 4_000_000)]
    public int Targets { get; set; }

    /// <summary>Scanning source addresses (each on up to ten ports): 1,000 keeps every row table small and in cache.</summary>
    [Params(1_000, 50_000)]
    public int Sources { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(11);
        _packets = new RollupInput[Packets];
        ushort[] ports = [23, 22, 80, 443, 445, 2323, 8080, 3389, 5555, 37215];
        for (int i = 0; i < Packets; i++)
        {
            _packets[i] = new RollupInput
            {
                TimestampNs = i * 1000L,
                Source = IpAddr.FromV4(0x0B000000u + (uint)random.Next(Sources)),
                Destination = IpAddr.FromV4(0xC6000000u + (uint)random.Next(Targets / ports.Length)),
                IpBytes = 40,
                Port = ports[random.Next(ports.Length)],
                Protocol = 6,
                Class = TrafficClass.TcpSyn,
            };
        }

        // One untimed pass grows the tables to their working size, as the pool keeps them.
        Add();
        TargetsDictionary();
        TargetsKeyTable();
    }

    [Benchmark(OperationsPerInvoke = Packets)]
    public int Add()
    {
        _tables.Clear();
        RollupInput[] packets = _packets;
        for (int i = 0; i < packets.Length; i++)
        {
            _tables.Add(packets[i]);
        }

        return _tables.KeyCount;
    }

    [Benchmark(OperationsPerInvoke = Packets)]
    public int AddPrefetched() => AddWithPrefetch(twoStage: true);

    [Benchmark(OperationsPerInvoke = Packets)]
    public int AddPrefetchedOneStage() => AddWithPrefetch(twoStage: false);

    private int AddWithPrefetch(bool twoStage)
    {
        _tables.Clear();
        RollupInput[] packets = _packets;
        _prefetch.Start(packets, packets.Length, _tables, twoStage);
        for (int i = 0; i < packets.Length; i++)
        {
            _tables.Add(packets[i], _prefetch.Next(packets, i, packets.Length, _tables, twoStage));
        }

        return _tables.KeyCount;
    }

    [Benchmark(OperationsPerInvoke = Packets)]
    public int TargetsDictionary()
    {
        _dictionary.Clear();
        foreach (ref RollupInput packet in _packets.AsSpan())
        {
            var key = new AddressPortKey(packet.Destination, new PortKey(packet.Protocol, packet.Class, packet.Port));
            ref TargetStats stats = ref CollectionsMarshal.GetValueRefOrAddDefault(_dictionary, key, out _);
            stats.Packets++;
            stats.Bytes += packet.IpBytes;
        }

        return _dictionary.Count;
    }

    [Benchmark(OperationsPerInvoke = Packets)]
    public int TargetsKeyTable()
    {
        _keyTable.Clear();
        foreach (ref RollupInput packet in _packets.AsSpan())
        {
            var key = new AddressPortKey(packet.Destination, new PortKey(packet.Protocol, packet.Class, packet.Port));
            ref TargetStats stats = ref _keyTable.GetValueRefOrAddDefault(key, out _);
            stats.Packets++;
            stats.Bytes += packet.IpBytes;
        }

        return _keyTable.Count;
    }
}
