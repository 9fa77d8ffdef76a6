using Telemetry.Core.Capture;
using Telemetry.Core.Decode;
using Telemetry.Core.Tests.Support;
using Telemetry.Testing;

namespace Telemetry.Core.Tests.Capture;

public class CaptureReaderErrorTests
{
    public static TheoryData<string> Names => [.. BadCaptures.Names];

    [Theory]
    [MemberData(nameof(Names))]
    public void TryReadPacket_MalformedCapture_ThrowsKindAtRecordOffsetAtEverySplit(string name)
    {
        BadCapture bad = BadCaptures.Get(name);

        // Past the first kilobyte the splits only move the tail of a huge record around.
        FeedResult result = CaptureFeed.AssertSameAtEverySplit(bad.Capture, maxSplit: 1024);

        Assert.NotNull(result.Error);
        Assert.Equal(bad.Kind, result.Error.Kind);
        Assert.Equal(bad.Offset, result.Error.Offset);
        Assert.EndsWith($"at byte offset {bad.Offset}", result.Error.Message, StringComparison.Ordinal);
        Assert.Equal(bad.PacketsBefore, result.Packets.Count);
        Assert.Equal(bad.Offset, result.Position);
    }

    [Theory]
    [InlineData(false, 1)]
    [InlineData(false, 15)]
    [InlineData(false, 16)]
    [InlineData(false, 17)]
    [InlineData(true, 4)]
    [InlineData(true, 11)]
    [InlineData(true, 12)]
    [InlineData(true, 40)]
    public void TryReadPacket_CaptureCutInsideRecord_LeavesRecordUnconsumed(bool pcapNg, int cut)
    {
        BadCapture bad = BadCaptures.Truncated(pcapNg, cut);

        FeedResult result = CaptureFeed.AssertSameAtEverySplit(bad.Capture);

        Assert.Null(result.Error);
        Assert.Equal(bad.PacketsBefore, result.Packets.Count);
        Assert.Equal(cut, result.Leftover);
        Assert.Equal(bad.Offset, result.Position);
        Assert.Equal(bad.Offset, result.RecordStart);
        Assert.False(result.InsideBlock);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(12)]
    [InlineData(500)]
    [InlineData(999)]
    public void TryReadPacket_CaptureCutInsideUnknownBlock_InsideBlockFromItsStart(int cut)
    {
        var writer = new PcapNgWriter().Section(false, new NgInterface(LinkTypes.Raw))
            .Enhanced(new TestPacket(LinkTypes.Raw, SampleCaptures.Ip(0), SampleCaptures.T0));
        int at = writer.ToArray().Length;
        byte[] capture = writer.Unknown(0xBAD, 1000).ToArray()[..(at + cut)];

        FeedResult result = CaptureFeed.AssertSameAtEverySplit(capture);

        Assert.Single(result.Packets);
        Assert.Equal(cut >= 12, result.InsideBlock);
        Assert.Equal(at, result.RecordStart);
        Assert.Equal(cut >= 12 ? 0 : cut, result.Leftover);
    }

    [Fact]
    public void TryReadPacket_RecordOverConfiguredLimit_RecordTooLong()
    {
        byte[] capture = PcapWriter.Write(
            [new TestPacket(LinkTypes.Ethernet, new byte[64], 0), new TestPacket(LinkTypes.Ethernet, new byte[65], 0)], LinkTypes.Ethernet, snapLen: 0);

        FeedResult result = CaptureFeed.Read([capture], incremental: false, maxRecordBytes: 64);

        Assert.Single(result.Packets);
        Assert.Equal(CaptureErrorKind.RecordTooLong, result.Error?.Kind);
        Assert.Equal(24 + 16 + 64, result.Error?.Offset);
    }

    [Fact]
    public void Constructor_LimitBelow64_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new CaptureReader(63));
}
