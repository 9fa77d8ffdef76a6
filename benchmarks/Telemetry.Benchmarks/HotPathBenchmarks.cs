using System.Buffers;
using BenchmarkDotNet.Attributes;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Capture;
using Telemetry.Core.Decode;

namespace Telemetry.Benchmarks;

/// <summary>
/// The per-packet stages on one core, over 1 M packets of the simulator's mix held in memory:
/// framing alone, framing + decode + classify, and all of that plus aggregation into one window.
/// Results are per operation of 1 M packets; divide to get packets/s.
/// </summary>
[MemoryDiagnoser]
public class HotPathBenchmarks
{
    private const int Packets = 1_000_000;
    private byte[] _pcap = [];
    private WindowTables _tables = new(0, 0);

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
    public long FramingDecodeClassify()
    {
        var buffer = new ReadOnlySequence<byte>(_pcap);
        using var reader = new CaptureReader();
        var facts = default(PacketFacts);
        long syn = 0;
        while (reader.TryReadPacket(ref buffer, out CapturedPacket packet))
        {
            if (PacketDecoder.Decode(packet.LinkType, packet.Data, ref facts) == DecodeStatus.Ok && facts.Class == TrafficClass.TcpSyn)
            {
                syn++;
            }
        }

        return syn;
    }

    [Benchmark(OperationsPerInvoke = Packets)]
    public int FramingDecodeAggregate()
    {
        _tables.Clear();
        var buffer = new ReadOnlySequence<byte>(_pcap);
        using var reader = new CaptureReader();
        var facts = default(PacketFacts);
        while (reader.TryReadPacket(ref buffer, out CapturedPacket packet))
        {
            facts.TimestampNs = packet.TimestampNs;
            if (PacketDecoder.Decode(packet.LinkType, packet.Data, ref facts) == DecodeStatus.Ok)
            {
                _tables.Add(RollupInput.From(facts));
            }
        }

        return _tables.KeyCount;
    }
}
