using System.Buffers;
using BenchmarkDotNet.Attributes;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Capture;
using Telemetry.Core.Decode;

namespace Telemetry.Benchmarks;

/// <summary>
/// The per-packet stages on one core, over 1 M packets of the simulator's mix held in memory:
/// framing alone, framing + decode + classify (and with scanner fingerprints), and all of that plus
/// aggregation into one window.
/// Results are per operation of 1 M packets; divide to get packets/s.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class HotPathBenchmarks
{
    internal const int Packets = 1_000_000;
    private byte[] _pcap = [];
    private readonly WindowTables _tables = new(0, 0);
    private readonly RollupInput[] _batch = new RollupInput[2048];
    private readonly PrefetchPipeline _prefetch = new();
    private Action<int>? _aggregate;

    [GlobalSetup]
    public void Setup() => _pcap = SyntheticCapture.Pcap(Packets);

    [Benchmark(OperationsPerInvoke = Packets)]
    public long Framing()
    {
        var buffer = new ReadOnlySequence<byte>(_pcap);
        using var reader = new CaptureReader();
        long bytes = 0;
        while (reader.TryReadPacket(ref buffer, out CapturedPacket packet))
        {
            bytes += packet.Data.Length;
        }

        return bytes;
    }

    [Benchmark(OperationsPerInvoke = Packets)]
    public long FramingDecodeClassify() => DecodeEach<CountSyn>();

    /// <summary>Framing, decoding and classifying, plus the scanner marks of every packet (Mirai, ZMap, Masscan, Nmap).</summary>
    [Benchmark(OperationsPerInvoke = Packets)]
    public long FramingDecodeFingerprint() => DecodeEach<CountMarked>();

    /// <summary>Frames and decodes every packet and counts the decoded ones <typeparamref name="TCount"/> picks (a struct, so its test is specialised and inlined; the count stays a branch, as it was when the loop was written out).</summary>
    private long DecodeEach<TCount>()
        where TCount : struct, IPacketCount
    {
        var buffer = new ReadOnlySequence<byte>(_pcap);
        using var reader = new CaptureReader();
        var facts = default(PacketFacts);
        long total = 0;
        while (reader.TryReadPacket(ref buffer, out CapturedPacket packet))
        {
            if (PacketDecoder.Decode(packet.LinkType, packet.Data, ref facts) == DecodeStatus.Ok)
            {
                if (default(TCount).Picks(facts))
                {
                    total++;
                }
            }
        }

        return total;
    }

    private interface IPacketCount
    {
        bool Picks(in PacketFacts facts);
    }

    private readonly struct CountSyn : IPacketCount
    {
        public bool Picks(in PacketFacts facts) => facts.Class == TrafficClass.TcpSyn;
    }

    private readonly struct CountMarked : IPacketCount
    {
        public bool Picks(in PacketFacts facts) => ScannerFingerprint.Of(facts) != ScannerTraits.None;
    }

    /// <summary>
    /// As the service runs it on one core: decode into batches of 2048 (the reader's side), then
    /// add each batch to the window's tables prefetching slots 16 and entries 8 packets ahead (the shard's side).
    /// </summary>
    [Benchmark(OperationsPerInvoke = Packets)]
    public int FramingDecodeAggregate()
    {
        _tables.Clear();
        DecodeInBatches(_pcap, _batch, _aggregate ??= count => Aggregate(_tables, _prefetch, _batch, count));
        return _tables.KeyCount;
    }

    /// <summary>Frames and decodes a capture into <paramref name="batch"/>, handing each full batch (and the last, partial one) to <paramref name="aggregate"/> with its count.</summary>
    internal static void DecodeInBatches(byte[] pcap, RollupInput[] batch, Action<int> aggregate)
    {
        var buffer = new ReadOnlySequence<byte>(pcap);
        using var reader = new CaptureReader();
        var facts = default(PacketFacts);
        int count = 0;
        while (reader.TryReadPacket(ref buffer, out CapturedPacket packet))
        {
            facts.TimestampNs = packet.TimestampNs;
            if (PacketDecoder.Decode(packet.LinkType, packet.Data, ref facts) == DecodeStatus.Ok)
            {
                batch[count++] = RollupInput.From(facts);
                if (count == batch.Length)
                {
                    aggregate(count);
                    count = 0;
                }
            }
        }

        aggregate(count);
    }

    /// <summary>Adds a batch to the tables as the shard does, through a <see cref="PrefetchPipeline"/> in two stages: slots prefetched <c>2 * <see cref="PrefetchPipeline.Distance"/></c> packets ahead, entries <see cref="PrefetchPipeline.Distance"/> ahead.</summary>
    internal static void Aggregate(WindowTables tables, PrefetchPipeline prefetch, RollupInput[] batch, int count)
    {
        prefetch.Start(batch, count, tables, twoStage: true);
        for (int i = 0; i < count; i++)
        {
            tables.Add(batch[i], prefetch.Next(batch, i, count, tables, twoStage: true));
        }
    }
}
