namespace Telemetry.Core.Capture;

/// <summary>
/// One packet record as framed by <see cref="CaptureReader"/>. <see cref="Data"/> points into
/// the reader's buffer (or, for a record that straddles buffer segments, a scratch copy) and is
/// valid until the buffer is advanced.
/// </summary>
public readonly ref struct CapturedPacket
{
    public CapturedPacket(ReadOnlySpan<byte> data, long timestampNs, int originalLength, int linkType)
    {
        Data = data;
        TimestampNs = timestampNs;
        OriginalLength = originalLength;
        LinkType = linkType;
    }

    public ReadOnlySpan<byte> Data { get; }

    /// <summary>Capture time in nanoseconds since the Unix epoch (UTC).</summary>
    public long TimestampNs { get; }

    public int OriginalLength { get; }

    public int LinkType { get; }
}
