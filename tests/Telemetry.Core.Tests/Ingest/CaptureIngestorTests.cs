using Telemetry.Core.Capture;
using Telemetry.Core.Decode;
using Telemetry.Core.Ingest;
using Telemetry.Core.Tests.Support;
using Telemetry.Testing;
using static Telemetry.Core.Tests.Support.SampleCaptures;

namespace Telemetry.Core.Tests.Ingest;

public class CaptureIngestorTests
{
    public static TheoryData<string> BadNames => [.. BadCaptures.Names];

    private static async Task<(IngestResult Result, EngineHarness Harness)> IngestAsync(byte[] capture, int shards = 2)
    {
        var harness = new EngineHarness(EngineHarness.Options(shards));
        IngestResult result = await harness.IngestAsync("s", capture);
        await harness.CompleteAsync();
        return (result, harness);
    }

    private static void AssertFault(EngineHarness harness, IngestResult result, CaptureErrorKind kind, long offset, int packetsBefore)
    {
        Assert.True(result.Failed);
        Assert.EndsWith($"at byte offset {offset}", result.Error, StringComparison.Ordinal);
        Assert.Equal([$"s:{CaptureFormatException.Label(kind)}"], harness.Events.Errors);
        Assert.Equal(packetsBefore, result.Packets);
        Assert.Equal(1, harness.Sensor("s").CaptureErrors);
        Assert.Equal(1, harness.Sink.Health.Sum(h => h.CaptureErrors));

        // Packets read before the fault are kept and reach the sink.
        Assert.Equal(packetsBefore, harness.Sink.Health.Sum(h => h.PacketsSeen));
        Assert.Equal((ulong)result.Decoded, harness.Sink.TotalPackets);
    }

    [Theory]
    [MemberData(nameof(BadNames))]
    public async Task IngestAsync_MalformedCapture_ReportsKindOffsetAndKeepsEarlierPackets(string name)
    {
        BadCapture bad = BadCaptures.Get(name);
        (IngestResult result, EngineHarness harness) = await IngestAsync(bad.Capture);
        await using (harness)
        {
            AssertFault(harness, result, bad.Kind, bad.Offset, bad.PacketsBefore);
        }
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(false, 16)]
    [InlineData(false, 30)]
    [InlineData(true, 8)]
    [InlineData(true, 40)]
    public async Task IngestAsync_TruncatedCapture_ReportsTruncatedAndKeepsEarlierPackets(bool pcapNg, int cut)
    {
        BadCapture bad = BadCaptures.Truncated(pcapNg, cut);
        (IngestResult result, EngineHarness harness) = await IngestAsync(bad.Capture);
        await using (harness)
        {
            AssertFault(harness, result, CaptureErrorKind.Truncated, bad.Offset, bad.PacketsBefore);
            Assert.Equal(bad.PacketsBefore, result.Decoded);
        }
    }

    [Theory]
    [InlineData(10)]
    [InlineData(23)]
    public async Task IngestAsync_CaptureCutInsideFileHeader_ReportsTruncated(int length)
    {
        byte[] capture = PcapWriter.Write([new TestPacket(LinkTypes.Raw, Ip(0), T0)], LinkTypes.Raw)[..length];
        (IngestResult result, EngineHarness harness) = await IngestAsync(capture);
        await using (harness)
        {
            AssertFault(harness, result, CaptureErrorKind.Truncated, 0, 0);
        }
    }

    [Fact]
    public async Task IngestAsync_CaptureEndsInsideUnknownBlock_ReportsTruncatedAtBlock()
    {
        PcapNgWriter writer = new PcapNgWriter().Section(false, new NgInterface(LinkTypes.Raw)).Enhanced(new TestPacket(LinkTypes.Raw, Ip(0), T0));
        int at = writer.ToArray().Length;
        byte[] capture = writer.Unknown(0xBAD, 1000).ToArray()[..(at + 500)];

        (IngestResult result, EngineHarness harness) = await IngestAsync(capture);
        await using (harness)
        {
            AssertFault(harness, result, CaptureErrorKind.Truncated, at, 1);
        }
    }

    [Fact]
    public async Task IngestAsync_GzipCorruptHalfWay_ReportsCompressionAndKeepsEarlierPackets()
    {
        // Enough packets that the damage lands well after the first decompressed buffer.
        var packets = Enumerable.Range(0, 20_000).Select(i => new TestPacket(LinkTypes.Raw, Ip(i % 300), T0 + (i * 1000L))).ToList();
        byte[] gzip = Gzip.Compress(PcapWriter.Write(packets, LinkTypes.Raw));
        for (int i = gzip.Length / 2; i < (gzip.Length / 2) + 64; i++)
        {
            gzip[i] = 0xFF;
        }

        (IngestResult result, EngineHarness harness) = await IngestAsync(gzip);
        await using (harness)
        {
            Assert.True(result.Failed);
            Assert.Equal(["s:bad_compression"], harness.Events.Errors);
            Assert.InRange(result.Packets, 1, packets.Count - 1);
            Assert.Equal(result.Packets, harness.Sink.Health.Sum(h => h.PacketsSeen));
            Assert.Equal((ulong)result.Decoded, harness.Sink.TotalPackets);
        }
    }

    [Fact]
    public async Task IngestAsync_GzipCapture_SameAsPlain()
    {
        (byte[] capture, List<FramedPacket> expected) = MultiSection();
        (IngestResult plain, EngineHarness plainHarness) = await IngestAsync(capture);
        (IngestResult gzip, EngineHarness gzipHarness) = await IngestAsync(Gzip.Compress(capture));
        await using (plainHarness)
        await using (gzipHarness)
        {
            Assert.Null(plain.Error);
            Assert.Equal(expected.Count, plain.Packets);
            Assert.Equal(plain with { Origin = "" }, gzip with { Origin = "" });
            Assert.Equal(plainHarness.Sink.TotalPackets, gzipHarness.Sink.TotalPackets);
        }
    }

    [Fact]
    public async Task IngestAsync_InterfaceStatistics_CountsDropsOnSensorAndHealth()
    {
        (IngestResult result, EngineHarness harness) = await IngestAsync(MultiSection().Capture);
        await using (harness)
        {
            Assert.Null(result.Error);
            Assert.Equal(21, harness.Sensor("s").CaptureDrops);
            Assert.Equal(21, harness.Sink.Health.Sum(h => h.CaptureDrops));
        }
    }

    [Fact]
    public async Task IngestAsync_UndecodableFrames_CountedByReason()
    {
        byte[] arp = PacketBuilder.EthernetWithType(new byte[28], 0x0806);
        byte[] shortFrame = new byte[10];
        byte[] badIp = new byte[40];
        byte[] capture = new PcapNgWriter()
            .Section(false, new NgInterface(LinkTypes.Ethernet), new NgInterface(LinkTypes.Raw), new NgInterface(147))
            .Enhanced(new TestPacket(LinkTypes.Ethernet, arp, T0))
            .Enhanced(new TestPacket(LinkTypes.Ethernet, arp, T0))
            .Enhanced(new TestPacket(LinkTypes.Ethernet, shortFrame, T0))
            .Enhanced(new TestPacket(LinkTypes.Raw, badIp, T0, 1))
            .Enhanced(new TestPacket(147, Ip(0), T0, 2))
            .Enhanced(new TestPacket(LinkTypes.Raw, Ip(0), T0, 1))
            .ToArray();

        (IngestResult result, EngineHarness harness) = await IngestAsync(capture);
        await using (harness)
        {
            Assert.Equal(6, result.Packets);
            Assert.Equal(1, result.Decoded);
            long[] undecodable = harness.Sensor("s").Undecodable;
            Assert.Equal(2, undecodable[(int)DecodeStatus.NonIp]);
            Assert.Equal(1, undecodable[(int)DecodeStatus.TruncatedLink]);
            Assert.Equal(1, undecodable[(int)DecodeStatus.BadIpHeader]);
            Assert.Equal(1, undecodable[(int)DecodeStatus.UnsupportedLinkType]);
            Assert.Equal(0, undecodable[(int)DecodeStatus.Ok]);
            Assert.Equal(undecodable, harness.Sink.Health.Select(h => h.Undecodable).Aggregate(new long[undecodable.Length], (sum, u) => [.. sum.Zip(u, (a, b) => a + b)]));
        }
    }

    [Fact]
    public async Task IngestAsync_EmptyStream_NoPacketsNoError()
    {
        (IngestResult result, EngineHarness harness) = await IngestAsync([]);
        await using (harness)
        {
            Assert.False(result.Failed);
            Assert.Equal(0, result.Packets);
            Assert.Empty(harness.Events.Errors);
        }
    }
}
