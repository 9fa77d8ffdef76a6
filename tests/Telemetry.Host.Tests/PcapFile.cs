using System.Buffers.Binary;

namespace Telemetry.Host.Tests;

/// <summary>Record boundaries of a classic pcap file, for cutting captures at known byte offsets.</summary>
internal static class PcapFile
{
    /// <summary>The offset of each record header (the file header is 24 bytes).</summary>
    public static List<int> RecordOffsets(byte[] pcap)
    {
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(pcap);
        bool bigEndian = magic is 0xD4C3B2A1 or 0x4D3CB2A1;
        Assert.True(bigEndian || magic is 0xA1B2C3D4 or 0xA1B23C4D, "not a pcap file");
        var offsets = new List<int>();
        for (int offset = 24; offset < pcap.Length;)
        {
            offsets.Add(offset);
            ReadOnlySpan<byte> lengthField = pcap.AsSpan(offset + 8, 4);
            uint included = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(lengthField) : BinaryPrimitives.ReadUInt32LittleEndian(lengthField);
            offset += 16 + (int)included;
        }

        return offsets;
    }

    /// <summary>A record header claiming <paramref name="length"/> captured bytes, in the file's byte order.</summary>
    public static byte[] RecordHeader(byte[] pcap, uint seconds, uint length)
    {
        bool bigEndian = BinaryPrimitives.ReadUInt32LittleEndian(pcap) is 0xD4C3B2A1 or 0x4D3CB2A1;
        byte[] header = new byte[16];
        foreach ((int at, uint value) in new[] { (0, seconds), (4, 0u), (8, length), (12, length) })
        {
            if (bigEndian)
            {
                BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(at), value);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(at), value);
            }
        }

        return header;
    }
}
