using System.Buffers;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Capture;
using Telemetry.Core.Decode;
using Telemetry.Core.Tests.Support;
using Telemetry.Testing;
using B = Telemetry.Testing.PacketBuilder;

namespace Telemetry.Core.Tests.HotPath;

/// <summary>
/// The steady-state hot path (framing, decoding, classifying, adding to the window tables) must
/// not allocate: over a key space that is already warm, not one byte per packet.
/// </summary>
public class AllocationTests
{
    private const int DistinctFrames = 4096;
    private const int Packets = 200_000;
    private static readonly List<string> Log = new();

    /// <summary>
    /// 4096 distinct Ethernet frames: 64 targets × 4 ports × 5 classes, 4096 sources, some IPv6
    /// and some ARP, so that distinct counters sit at one value, in the exact array and past 64.
    /// </summary>
    private static byte[][] Frames()
    {
        var frames = new byte[DistinctFrames][];
        ushort[] ports = [23, 80, 443, 8080];
        for (int i = 0; i < frames.Length; i++)
        {
            string src = $"198.18.{i >> 8}.{i & 0xFF}";
            string dst = $"203.0.113.{i % 64}";
            ushort port = ports[(i / 64) % 4];
            byte[] ip = (i % 6) switch
            {
                0 => B.Ipv4(src, dst, 6, B.Tcp(40000, port, B.Syn)),
                1 => B.Ipv4(src, dst, 6, B.Tcp(port, 40000, B.Syn | B.Ack)),
                2 => B.Ipv4(src, dst, 17, B.Udp(40000, port)),
                3 => B.Ipv4(src, dst, 1, B.Icmp(8, (byte)(i % 4))),
                4 => B.Ipv6($"2001:db8::{i:x}", $"2001:db8:ffff::{i % 16:x}", 6, B.Tcp(40000, port, B.Syn), 64, B.HopByHop()),
                _ => B.Ipv4(src, dst, 17, new byte[32], fragmentOffset: 10),
            };
            frames[i] = i % 97 == 0 ? B.EthernetWithType(new byte[28], 0x0806) : B.Ethernet(ip);
        }

        return frames;
    }

    private static byte[] Pcap(byte[][] frames) =>
        PcapWriter.Write(Enumerable.Range(0, Packets).Select(i => new TestPacket(LinkTypes.Ethernet, frames[i % frames.Length], SampleCaptures.T0 + (i * 1000L))), LinkTypes.Ethernet);

    private static int DecodeAndAdd(int linkType, ReadOnlySpan<byte> frame, long timestampNs, WindowTables tables, ref PacketFacts facts)
    {
        facts.TimestampNs = timestampNs;
        if (PacketDecoder.Decode(linkType, frame, ref facts) != DecodeStatus.Ok)
        {
            return 0;
        }

        var input = RollupInput.From(facts);
        tables.Add(input);
        return 1;
    }

    private static void AssertNoAllocation(long allocated, int packets) =>
        Assert.True(allocated == 0, $"{allocated} bytes allocated over {packets} packets ({(double)allocated / packets:F3} per packet)");

    [Fact]
    public void DecodeAndAdd_WarmKeySpace_AllocatesNothing()
    {
        byte[][] frames = Frames();
        var tables = new WindowTables(0, 0);
        var facts = default(PacketFacts);
        for (int i = 0; i < 3 * DistinctFrames; i++)
        {
            DecodeAndAdd(LinkTypes.Ethernet, frames[i % DistinctFrames], i, tables, ref facts);
        }

        int keys = tables.KeyCount;
        long bytes = tables.ApproximateBytes;
        Assert.Contains(tables.Ports.Values, p => p.Sources.IsEstimate);
        Assert.Contains(tables.Targets.Values, t => t.Sources.Count() > 1 && !t.Sources.IsEstimate);

        int decoded = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < Packets; i++)
        {
            decoded += DecodeAndAdd(LinkTypes.Ethernet, frames[i % DistinctFrames], i, tables, ref facts);
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        AssertNoAllocation(allocated, Packets);
        Assert.InRange(decoded, Packets * 9 / 10, Packets);
        Assert.Equal(keys, tables.KeyCount);
        Assert.Equal(bytes, tables.ApproximateBytes);
        tables.Clear();
    }

    /// <summary>Reads up to <paramref name="max"/> packets; the warm-up and the measured pass share this code, so both run the same (already compiled) methods.</summary>
    private static int ReadPackets(CaptureReader reader, ref ReadOnlySequence<byte> buffer, int max, ref long checksum)
    {
        int read = 0;
        while (read < max)
        {
            long b0 = GC.GetAllocatedBytesForCurrentThread();
            long firstLen = buffer.FirstSpan.Length;
            bool ok = reader.TryReadPacket(ref buffer, out CapturedPacket packet);
            long d = GC.GetAllocatedBytesForCurrentThread() - b0;
            if (d != 0 && Log.Count < 50) Log.Add($"{read}:{d}:first{firstLen}:pos{reader.Position}");
            if (!ok) break;
            checksum += packet.Data[^1] + packet.OriginalLength + packet.LinkType + packet.TimestampNs;
            read++;
        }

        return read;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4096)]
    [InlineData(1000)]
    public void TryReadPacket_InMemoryPcapAfterWarmUp_AllocatesNothing(int segmentBytes)
    {
        byte[] capture = Pcap(Frames());
        ReadOnlySequence<byte> buffer = segmentBytes == 0 ? new ReadOnlySequence<byte>(capture) : Segments.Create(Segments.Chunks(capture, segmentBytes));
        using var reader = new CaptureReader();
        long checksum = 0;
        Assert.Equal(1000, ReadPackets(reader, ref buffer, 1000, ref checksum));

        int g0 = GC.CollectionCount(0), g1 = GC.CollectionCount(1), g2 = GC.CollectionCount(2);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int read = ReadPackets(reader, ref buffer, int.MaxValue, ref checksum);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated == 0, $"{segmentBytes}: {allocated} {string.Join(",", Log)} gcs {GC.CollectionCount(0) - g0} {GC.CollectionCount(1) - g1} {GC.CollectionCount(2) - g2}");

        AssertNoAllocation(allocated, read);
        Assert.Equal(Packets - 1000, read);
        Assert.True(buffer.IsEmpty);
        Assert.NotEqual(0, checksum);
    }

    private static int ReadDecodeAndAdd(CaptureReader reader, ref ReadOnlySequence<byte> buffer, int max, WindowTables tables, ref PacketFacts facts)
    {
        int read = 0;
        while (read < max && reader.TryReadPacket(ref buffer, out CapturedPacket packet))
        {
            DecodeAndAdd(packet.LinkType, packet.Data, packet.TimestampNs, tables, ref facts);
            read++;
        }

        return read;
    }

    [Fact]
    public void ReadDecodeAndAdd_WarmKeySpace_AllocatesNothing()
    {
        // Records straddle the 1000-byte segments, so the reader's copy path runs too.
        byte[] capture = Pcap(Frames());
        ReadOnlySequence<byte> buffer = Segments.Create(Segments.Chunks(capture, 1000));
        var tables = new WindowTables(0, 0);
        var facts = default(PacketFacts);
        using var reader = new CaptureReader();
        int warm = ReadDecodeAndAdd(reader, ref buffer, 3 * DistinctFrames, tables, ref facts);
        int keys = tables.KeyCount;

        long before = GC.GetAllocatedBytesForCurrentThread();
        int read = ReadDecodeAndAdd(reader, ref buffer, int.MaxValue, tables, ref facts);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        AssertNoAllocation(allocated, read);
        Assert.Equal(Packets, warm + read);
        Assert.Equal(keys, tables.KeyCount);
        tables.Clear();
    }
}
