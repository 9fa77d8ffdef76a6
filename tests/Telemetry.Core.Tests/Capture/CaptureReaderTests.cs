using System.Buffers;
using System.Buffers.Binary;
using Telemetry.Core.Capture;
using Telemetry.Core.Decode;
using Telemetry.Core.Tests.Support;
using Telemetry.Testing;
using static Telemetry.Core.Tests.Support.SampleCaptures;

namespace Telemetry.Core.Tests.Capture;

public class CaptureReaderTests
{
    private static void AssertPackets(List<FramedPacket> expected, FeedResult actual)
    {
        Assert.Null(actual.Error);
        Assert.Equal(0, actual.Leftover);
        Assert.Equal(expected.Count, actual.Packets.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            CaptureFeed.AssertPacket(expected[i], actual.Packets[i], $"packet {i}");
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void TryReadPacket_PcapEveryMagic_SamePacketsAtEverySplit(bool nanosecond, bool bigEndian)
    {
        long fraction = nanosecond ? 123_456_789 : 123_456_000;
        long[] timestamps =
        [
            T0 + fraction,
            T0 + fraction + (nanosecond ? 1 : 1000),
            T0 + 999_999_999 - (nanosecond ? 0 : 999),
            4_000_000_000_000_000_000 + fraction, // seconds past 2^31: read unsigned
            0,
        ];
        var packets = timestamps.Select((ts, i) => new TestPacket(LinkTypes.Ethernet, Frame(LinkTypes.Ethernet, i), ts)).ToList();
        byte[] cut = Frame(LinkTypes.Ethernet, 9)[..40];
        packets.Add(new TestPacket(LinkTypes.Ethernet, cut, T0, OriginalLength: 1514));
        byte[] capture = PcapWriter.Write(packets, LinkTypes.Ethernet, nanosecond, bigEndian);

        FeedResult result = CaptureFeed.AssertSameAtEverySplit(capture);

        AssertPackets([.. packets.Select(p => Expect(p, LinkTypes.Ethernet))], result);
        Assert.Equal(CaptureFormat.Pcap, result.Format);
        Assert.Equal(capture.Length, result.Position);
    }

    [Theory]
    [InlineData(0xA1B2C3D4u, false, 1_000_002_000L)]
    [InlineData(0xA1B2C3D4u, true, 1_000_002_000L)]
    [InlineData(0xA1B23C4Du, false, 1_000_000_002L)]
    [InlineData(0xA1B23C4Du, true, 1_000_000_002L)]
    public void TryReadPacket_HandWrittenPcap_ScalesFractionByMagic(uint magic, bool bigEndian, long expectedNs)
    {
        // Header and one record written field by field: seconds 1, fraction 2, one byte captured.
        byte[] capture = new byte[24 + 16 + 1];
        void Put(int offset, uint value)
        {
            if (bigEndian)
            {
                BinaryPrimitives.WriteUInt32BigEndian(capture.AsSpan(offset), value);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(capture.AsSpan(offset), value);
            }
        }

        Put(0, magic);
        Put(16, 65535);
        Put(20, 0x1000_0000 | LinkTypes.Raw); // FCS bits above the link type are ignored
        Put(24, 1);
        Put(28, 2);
        Put(32, 1);
        Put(36, 60);
        capture[40] = 0x45;

        FeedResult result = CaptureFeed.Read(capture);

        FramedPacket packet = Assert.Single(result.Packets);
        Assert.Equal(expectedNs, packet.TimestampNs);
        Assert.Equal(60, packet.OriginalLength);
        Assert.Equal(LinkTypes.Raw, packet.LinkType);
        Assert.Equal([0x45], packet.Data);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TryReadPacket_PcapNgEitherByteOrder_SamePacketsAtEverySplit(bool bigEndian)
    {
        NgInterface[] interfaces = [new(LinkTypes.Ethernet), new(LinkTypes.Raw, TsResol: 9)];
        var w = new PcapNgWriter().Section(bigEndian, interfaces);
        var expected = new List<FramedPacket>();
        for (int i = 0; i < 6; i++)
        {
            NgInterface iface = interfaces[i % 2];
            var packet = new TestPacket(iface.LinkType, Frame(iface.LinkType, i), Timestamp(iface.TsResol, i), i % 2);
            w.Enhanced(packet);
            expected.Add(Expect(packet, iface.LinkType));
        }

        byte[] capture = w.ToArray();
        FeedResult result = CaptureFeed.AssertSameAtEverySplit(capture);

        AssertPackets(expected, result);
        Assert.Equal(CaptureFormat.PcapNg, result.Format);
        Assert.Equal(1, result.Sections);
        Assert.Equal(capture.Length, result.Position);
    }

    [Theory]
    [InlineData(6, 0L, 1_700_000_000_123_456_000L)]
    [InlineData(9, 0L, 1_700_000_000_123_456_789L)]
    [InlineData(3, 0L, 1_700_000_000_123_000_000L)]
    [InlineData(0x94, 0L, 1_700_000_000_072_265_625L)] // 2^-20 s units: 37 × 1953125 ns
    [InlineData(0x80, 0L, 1_700_000_000_000_000_000L)] // 2^0: whole seconds
    [InlineData(12, 1_700_000_000L, 1_700_000_005_123_456_789L)] // picoseconds after an offset
    [InlineData(6, 1_600_000_000L, 1_700_000_000_123_456_000L)]
    [InlineData(9, -3600L, 1_700_000_000_123_456_789L)]
    public void TryReadPacket_InterfaceResolutionAndOffset_ExactNanoseconds(byte tsResol, long offsetSeconds, long timestamp)
    {
        foreach (bool bigEndian in new[] { false, true })
        {
            var iface = new NgInterface(LinkTypes.Raw, tsResol, offsetSeconds);
            // A whole second on, with the fraction doubled: still a whole number of units.
            var packets = new[] { timestamp, timestamp + 1_000_000_000 + (timestamp % 1_000_000_000) }
                .Select((ts, i) => new TestPacket(LinkTypes.Raw, Ip(i), ts))
                .ToList();
            var w = new PcapNgWriter().Section(bigEndian, iface);
            packets.ForEach(p => w.Enhanced(p));

            FeedResult result = CaptureFeed.Read(w.ToArray());

            AssertPackets([.. packets.Select(p => Expect(p, LinkTypes.Raw))], result);
        }
    }

    [Fact]
    public void TryReadPacket_SectionsByteOrdersInterfacesAndBlocks_SamePacketsAtEverySplit()
    {
        (byte[] capture, List<FramedPacket> expected) = MultiSection();

        FeedResult result = CaptureFeed.AssertSameAtEverySplit(capture);

        AssertPackets(expected, result);
        Assert.Equal(3, result.Sections);
        Assert.Equal(5 + 9 + 4 + 3, result.ReportedDrops);
        Assert.Equal(capture.Length, result.Position);
        int[] linkTypes = [LinkTypes.Ethernet, LinkTypes.Raw, LinkTypes.LinuxSll, LinkTypes.Null, LinkTypes.LinuxSll2, LinkTypes.Loop, LinkTypes.Ipv4, LinkTypes.Ipv6];
        Assert.Equal(linkTypes.Order(), result.Packets.Select(p => p.LinkType).Distinct().Order());
    }

    [Fact]
    public void TryReadPacket_OneBytePerSegment_SamePackets()
    {
        (byte[] capture, List<FramedPacket> expected) = MultiSection();
        CaptureFeed.AssertSameBytePerSegment(capture);
        byte[] pcap = PcapWriter.Write([.. Enumerable.Range(0, 4).Select(i => new TestPacket(LinkTypes.Raw, Ip(i), T0 + i))], LinkTypes.Raw, nanosecond: true);
        CaptureFeed.AssertSameBytePerSegment(pcap);
        AssertPackets(expected, CaptureFeed.Read(capture));
    }

    [Fact]
    public void TryReadPacket_SimplePacketBeyondSnapLen_TruncatedToSnapLenWithLastTimestamp()
    {
        byte[] big = Frame(LinkTypes.Ethernet, 0);
        Array.Resize(ref big, 100);
        var epb = new TestPacket(LinkTypes.Ethernet, Frame(LinkTypes.Ethernet, 1), T0 + 5_000);
        byte[] capture = new PcapNgWriter().Section(false, new NgInterface(LinkTypes.Ethernet, SnapLen: 64)).Enhanced(epb).Simple(big).ToArray();

        FeedResult result = CaptureFeed.AssertSameAtEverySplit(capture);

        AssertPackets([Expect(epb, LinkTypes.Ethernet), new FramedPacket(big[..64], T0 + 5_000, 100, LinkTypes.Ethernet)], result);
    }

    [Fact]
    public void TryReadPacket_StatisticsCumulativeAndForUnknownInterface_CountsNewDropsOnly()
    {
        byte[] capture = new PcapNgWriter().Section(false, new NgInterface(LinkTypes.Raw), new NgInterface(LinkTypes.Raw))
            .Statistics(0, 10).Statistics(1, 1).Statistics(0, 10).Statistics(0, 25).Statistics(0, 20).Statistics(7, 1000)
            .Enhanced(new TestPacket(LinkTypes.Raw, Ip(0), T0))
            .ToArray();

        FeedResult result = CaptureFeed.AssertSameAtEverySplit(capture);

        Assert.Equal(26, result.ReportedDrops);
        Assert.Single(result.Packets);
    }

    [Fact]
    public void TryReadPacket_UnknownBlocksOfEverySize_Skipped()
    {
        var w = new PcapNgWriter().Section(true, new NgInterface(LinkTypes.Raw));
        var expected = new List<FramedPacket>();
        int[] lengths = [0, 4, 100, 70_000];
        for (int i = 0; i < lengths.Length; i++)
        {
            w.Unknown(0x80000000u | (uint)i, lengths[i]);
            var packet = new TestPacket(LinkTypes.Raw, Ip(i), T0 + (i * 1000));
            w.Enhanced(packet);
            expected.Add(Expect(packet, LinkTypes.Raw));
        }

        byte[] capture = w.ToArray();
        AssertPackets(expected, CaptureFeed.Read(capture));
        AssertPackets(expected, CaptureFeed.Read(Segments.Chunks(capture, 1000), incremental: true));
        AssertPackets(expected, CaptureFeed.Read(Segments.Chunks(capture, 3), incremental: true));
    }

    [Fact]
    public void TryReadPacket_EmptyOrPartialHeader_WaitsForMore()
    {
        byte[] capture = PcapWriter.Write([new TestPacket(LinkTypes.Raw, Ip(0), T0)], LinkTypes.Raw);
        for (int length = 0; length < capture.Length; length++)
        {
            using var fresh = new CaptureReader();
            var buffer = new ReadOnlySequence<byte>(capture, 0, length);
            Assert.False(fresh.TryReadPacket(ref buffer, out _));
            Assert.Equal(length < 24 ? 0 : 24, fresh.Position);
            Assert.Equal(length < 24 ? length : length - 24, buffer.Length);
        }

        using var reader = new CaptureReader();
        var all = new ReadOnlySequence<byte>(capture);
        Assert.True(reader.TryReadPacket(ref all, out CapturedPacket packet));
        Assert.Equal(T0, packet.TimestampNs);
        Assert.True(all.IsEmpty);
        Assert.Equal(capture.Length, reader.Position);
    }
}
