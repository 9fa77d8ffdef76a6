using System.Buffers;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Capture;
using Telemetry.Core.Decode;
using Telemetry.Core.Tests.Support;
using Telemetry.Testing;
using B = Telemetry.Testing.PacketBuilder;

namespace Telemetry.Core.Tests.HotPath;

/// <summary>Runs the allocation tests alone, so that other tests' garbage collections do not disturb the counts.</summary>
[CollectionDefinition(nameof(AllocationTestGroup), DisableParallelization = true)]
public sealed class AllocationTestGroup;

/// <summary>
/// The steady-state hot path (framing, decoding, classifying, adding to the window tables) must
/// not allocate: over a key space that is already warm, not one byte per packet.
/// </summary>
/// <remarks>
/// Each measurement runs up to three times and one pass must count exactly 0 bytes. A real
/// allocation on the path repeats on every pass; the runtime's own bookkeeping does not: a
/// background collection shifts <see cref="GC.GetAllocatedBytesForCurrentThread"/> by the unused
/// rest of the thread's allocation context (the project turns background collections off for
/// this reason, see the .csproj).
/// </remarks>
[Collection(nameof(AllocationTestGroup))]
public class AllocationTests
{
    private const int DistinctFrames = 4096;
    private const int Packets = 200_000;
    private const int Attempts = 3;

    /// <summary>
    /// 4096 distinct Ethernet frames: 64 targets × 4 ports × 5 classes, 4096 sources, some IPv6
    /// and some ARP, so rows have from one to thousands of distinct sources or targets.
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

    private static ReadOnlySequence<byte> Buffer(byte[] capture, int segmentBytes) =>
        segmentBytes == 0 ? new ReadOnlySequence<byte>(capture) : Segments.Create(Segments.Chunks(capture, segmentBytes));

    /// <summary>Runs <paramref name="pass"/> (which returns the packets it measured) until one pass allocates nothing.</summary>
    private static void AssertAllocatesNothing(Func<int> pass)
    {
        var tries = new List<string>();
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            int packets = pass();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (allocated == 0)
            {
                return;
            }

            tries.Add($"{allocated} bytes over {packets} packets");
        }

        Assert.Fail($"every pass allocated: {string.Join("; ", tries)}");
    }

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

    private static int DecodeAndAddAll(byte[][] frames, int count, WindowTables tables, ref PacketFacts facts)
    {
        int decoded = 0;
        for (int i = 0; i < count; i++)
        {
            decoded += DecodeAndAdd(LinkTypes.Ethernet, frames[i % frames.Length], i, tables, ref facts);
        }

        return decoded;
    }

    /// <summary>Reads up to <paramref name="max"/> packets; warm-up and measured passes share this code, so both run the same compiled methods.</summary>
    private static int ReadPackets(CaptureReader reader, ref ReadOnlySequence<byte> buffer, int max, ref long checksum)
    {
        int read = 0;
        while (read < max && reader.TryReadPacket(ref buffer, out CapturedPacket packet))
        {
            checksum += packet.Data[^1] + packet.OriginalLength + packet.LinkType + packet.TimestampNs;
            read++;
        }

        return read;
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
    public void DecodeAndAdd_WarmKeySpace_AllocatesNothing()
    {
        byte[][] frames = Frames();
        var tables = new WindowTables(0, 0);
        var facts = default(PacketFacts);
        DecodeAndAddAll(frames, 3 * DistinctFrames, tables, ref facts);
        int keys = tables.KeyCount;
        long bytes = tables.ApproximateBytes;
        Assert.Contains(tables.Ports.Values, p => p.Sources > 64);
        Assert.Contains(tables.Targets.Values, t => t.Sources > 1);

        int decoded = 0;
        AssertAllocatesNothing(() =>
        {
            decoded = DecodeAndAddAll(frames, Packets, tables, ref facts);
            return Packets;
        });

        Assert.InRange(decoded, Packets * 9 / 10, Packets);
        Assert.Equal(keys, tables.KeyCount);
        Assert.Equal(bytes, tables.ApproximateBytes);
        tables.Clear();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4096)]
    [InlineData(1000)]
    public void TryReadPacket_InMemoryPcapAfterWarmUp_AllocatesNothing(int segmentBytes)
    {
        byte[] capture = Pcap(Frames());
        var readers = new CaptureReader[Attempts];
        var buffers = new ReadOnlySequence<byte>[Attempts];
        long checksum = 0;
        for (int i = 0; i < Attempts; i++)
        {
            readers[i] = new CaptureReader();
            buffers[i] = Buffer(capture, segmentBytes);
            Assert.Equal(1000, ReadPackets(readers[i], ref buffers[i], 1000, ref checksum));
        }

        int attempt = 0;
        var read = new int[Attempts];
        AssertAllocatesNothing(() =>
        {
            read[attempt] = ReadPackets(readers[attempt], ref buffers[attempt], int.MaxValue, ref checksum);
            return read[attempt++];
        });

        Assert.Equal(Packets - 1000, read[attempt - 1]);
        Assert.True(buffers[attempt - 1].IsEmpty);
        Assert.NotEqual(0, checksum);
        Array.ForEach(readers, r => r.Dispose());
    }

    [Fact]
    public void ReadDecodeAndAdd_WarmKeySpace_AllocatesNothing()
    {
        // Records straddle the 1000-byte segments, so the reader's copy path runs too.
        byte[] capture = Pcap(Frames());
        var tables = new WindowTables(0, 0);
        var facts = default(PacketFacts);
        var readers = new CaptureReader[Attempts];
        var buffers = new ReadOnlySequence<byte>[Attempts];
        for (int i = 0; i < Attempts; i++)
        {
            readers[i] = new CaptureReader();
            buffers[i] = Buffer(capture, 1000);
            Assert.Equal(3 * DistinctFrames, ReadDecodeAndAdd(readers[i], ref buffers[i], 3 * DistinctFrames, tables, ref facts));
        }

        int keys = tables.KeyCount;
        int attempt = 0;
        var read = new int[Attempts];
        AssertAllocatesNothing(() =>
        {
            read[attempt] = ReadDecodeAndAdd(readers[attempt], ref buffers[attempt], int.MaxValue, tables, ref facts);
            return read[attempt++];
        });

        Assert.Equal(Packets - (3 * DistinctFrames), read[attempt - 1]);
        Assert.Equal(keys, tables.KeyCount);
        tables.Clear();
        Array.ForEach(readers, r => r.Dispose());
    }
}
