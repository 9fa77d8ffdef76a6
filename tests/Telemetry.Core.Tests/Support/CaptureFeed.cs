using System.Buffers;
using Telemetry.Core.Capture;

namespace Telemetry.Core.Tests.Support;

/// <summary>A packet as <see cref="CaptureReader"/> framed it, copied out of the buffer.</summary>
internal sealed record FramedPacket(byte[] Data, long TimestampNs, int OriginalLength, int LinkType)
{
    public override string ToString() => $"link {LinkType}, ts {TimestampNs}, orig {OriginalLength}, {Convert.ToHexString(Data)}";
}

/// <summary>Everything one pass of the reader over a capture produced.</summary>
internal sealed class FeedResult
{
    public List<FramedPacket> Packets { get; } = [];

    public CaptureFormatException? Error { get; set; }

    /// <summary>Bytes left unconsumed when the input ended (a truncated capture).</summary>
    public long Leftover { get; set; }

    public long Position { get; set; }

    /// <summary>Where the record the input ended inside starts (<see cref="CaptureReader.RecordStart"/>).</summary>
    public long RecordStart { get; set; }

    public bool InsideBlock { get; set; }

    public long ReportedDrops { get; set; }

    public int Sections { get; set; }

    public CaptureFormat Format { get; set; }
}

/// <summary>
/// Drives <see cref="CaptureReader.TryReadPacket"/> the way the ingestor does: read what is
/// there, keep the unconsumed rest, and when the reader asks for more, append the next chunk.
/// </summary>
internal static class CaptureFeed
{
    public static FeedResult Read(byte[] capture, int maxRecordBytes = CaptureReader.DefaultMaxRecordBytes) =>
        Read([capture], incremental: false, maxRecordBytes);

    /// <param name="incremental">True: chunks arrive one at a time; false: all are there at the first call.</param>
    public static FeedResult Read(IReadOnlyList<ReadOnlyMemory<byte>> chunks, bool incremental, int maxRecordBytes = CaptureReader.DefaultMaxRecordBytes)
    {
        ReadOnlySequence<byte> all = Segments.Create(chunks);
        var result = new FeedResult();
        using var reader = new CaptureReader(maxRecordBytes);
        SequencePosition consumed = all.Start;
        long available = 0;
        int next = 0;
        ReadOnlySequence<byte> buffer = ReadOnlySequence<byte>.Empty;
        while (next < chunks.Count)
        {
            if (incremental)
            {
                available += chunks[next++].Length;
            }
            else
            {
                available = all.Length;
                next = chunks.Count;
            }

            buffer = all.Slice(consumed, all.GetPosition(available));
            try
            {
                while (reader.TryReadPacket(ref buffer, out CapturedPacket packet))
                {
                    result.Packets.Add(new FramedPacket(packet.Data.ToArray(), packet.TimestampNs, packet.OriginalLength, packet.LinkType));
                }
            }
            catch (CaptureFormatException ex)
            {
                result.Error = ex;
                break;
            }

            consumed = buffer.Start;
        }

        result.Leftover = result.Error is null ? buffer.Length : 0;
        result.Position = reader.Position;
        result.RecordStart = reader.RecordStart;
        result.InsideBlock = reader.InsideBlock;
        result.ReportedDrops = reader.ReportedDrops;
        result.Sections = reader.Sections;
        result.Format = reader.Format;
        return result;
    }

    /// <summary>
    /// Reads <paramref name="capture"/> whole, then split in two at every offset up to
    /// <paramref name="maxSplit"/> (both halves at once, and the second arriving later), and
    /// asserts every pass gives the same packets, error, drops and sections as the whole read.
    /// </summary>
    public static FeedResult AssertSameAtEverySplit(byte[] capture, int maxRecordBytes = CaptureReader.DefaultMaxRecordBytes, int maxSplit = int.MaxValue)
    {
        FeedResult whole = Read(capture, maxRecordBytes);
        for (int split = 0; split <= Math.Min(capture.Length, maxSplit); split++)
        {
            ReadOnlyMemory<byte>[] chunks = Segments.SplitAt(capture, split);
            AssertSame(whole, Read(chunks, incremental: true, maxRecordBytes), $"split at {split}, second half later");
            AssertSame(whole, Read(chunks, incremental: false, maxRecordBytes), $"split at {split}, both halves at once");
        }

        return whole;
    }

    /// <summary>Feeds the capture one byte per segment, one segment at a time, and compares with the whole read.</summary>
    public static void AssertSameBytePerSegment(byte[] capture)
    {
        FeedResult whole = Read(capture);
        ReadOnlyMemory<byte>[] bytes = Segments.Chunks(capture, 1);
        AssertSame(whole, Read(bytes, incremental: true), "one byte per segment, arriving one by one");
        AssertSame(whole, Read(bytes, incremental: false), "one byte per segment, all at once");
    }

    public static void AssertSame(FeedResult expected, FeedResult actual, string context)
    {
        Assert.True(expected.Packets.Count == actual.Packets.Count,
            $"{context}: {actual.Packets.Count} packets instead of {expected.Packets.Count} (error: {actual.Error?.Message})");
        for (int i = 0; i < expected.Packets.Count; i++)
        {
            AssertPacket(expected.Packets[i], actual.Packets[i], $"{context}, packet {i}");
        }

        Assert.True(expected.Error?.Kind == actual.Error?.Kind && expected.Error?.Offset == actual.Error?.Offset,
            $"{context}: error '{actual.Error?.Message}' instead of '{expected.Error?.Message}'");
        Assert.True(expected.Leftover == actual.Leftover, $"{context}: {actual.Leftover} bytes left over instead of {expected.Leftover}");
        Assert.True(expected.RecordStart == actual.RecordStart && expected.InsideBlock == actual.InsideBlock,
            $"{context}: stopped inside the record at {actual.RecordStart} instead of {expected.RecordStart}");
        Assert.True(expected.ReportedDrops == actual.ReportedDrops, $"{context}: {actual.ReportedDrops} drops instead of {expected.ReportedDrops}");
        Assert.True(expected.Sections == actual.Sections, $"{context}: {actual.Sections} sections instead of {expected.Sections}");
    }

    public static void AssertPacket(FramedPacket expected, FramedPacket actual, string context) =>
        Assert.True(
            expected.TimestampNs == actual.TimestampNs && expected.OriginalLength == actual.OriginalLength
                && expected.LinkType == actual.LinkType && expected.Data.AsSpan().SequenceEqual(actual.Data),
            $"{context}: got [{actual}], expected [{expected}]");
}
