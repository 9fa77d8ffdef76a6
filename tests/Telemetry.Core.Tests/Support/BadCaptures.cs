using System.Buffers.Binary;
using Telemetry.Core.Capture;
using Telemetry.Core.Decode;
using Telemetry.Testing;
using static Telemetry.Core.Tests.Support.SampleCaptures;

namespace Telemetry.Core.Tests.Support;

/// <summary>A malformed capture: the fault the reader must report, where, and how many packets come out first.</summary>
internal sealed record BadCapture(byte[] Capture, CaptureErrorKind Kind, long Offset, int PacketsBefore);

/// <summary>Malformed captures by name, each with good packets before the fault.</summary>
internal static class BadCaptures
{
    public static readonly string[] Names =
    [
        "wrong_magic", "random_bytes", "pcapng_bad_byte_order_magic", "pcap_record_over_snaplen", "pcap_record_over_256k",
        "pcap_zero_length", "pcap_original_below_captured", "pcapng_zero_length", "pcapng_packet_over_256k",
        "pcapng_block_over_limit", "pcapng_packet_over_snaplen", "pcapng_captured_beyond_block", "pcapng_trailing_length_differs",
        "pcapng_length_not_multiple_of_4", "pcapng_length_below_12", "pcapng_undefined_interface",
        "pcapng_interface_of_previous_section", "pcapng_simple_packet_without_interface", "pcapng_tsresol_out_of_range",
    ];

    private static TestPacket Packet(int i, int linkType = LinkTypes.Ethernet) => new(linkType, Frame(linkType, i), T0 + (i * 1000L));

    private static byte[] Pcap(int count, uint snapLen = 262144) =>
        PcapWriter.Write([.. Enumerable.Range(0, count).Select(i => Packet(i))], LinkTypes.Ethernet, snapLen: snapLen);

    /// <summary>A little-endian pcapng section of one Ethernet interface with <paramref name="count"/> packets.</summary>
    private static PcapNgWriter PcapNg(int count, uint snapLen = 0)
    {
        PcapNgWriter w = new PcapNgWriter().Section(false, new NgInterface(LinkTypes.Ethernet, SnapLen: snapLen));
        for (int i = 0; i < count; i++)
        {
            w.Enhanced(Packet(i));
        }

        return w;
    }

    private static void Put32(byte[] capture, long offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(capture.AsSpan((int)offset), value);

    private static uint Get32(byte[] capture, long offset) => BinaryPrimitives.ReadUInt32LittleEndian(capture.AsSpan((int)offset));

    /// <summary>Two good packets, then one more whose block the caller then damages.</summary>
    private static (byte[] Capture, int At) PcapNgWithLastBlockAt(int frameLength = 0, uint snapLen = 0)
    {
        PcapNgWriter w = PcapNg(2, snapLen);
        int at = w.ToArray().Length;
        byte[] frame = frameLength == 0 ? Frame(LinkTypes.Ethernet, 2) : new byte[frameLength];
        w.Enhanced(new TestPacket(LinkTypes.Ethernet, frame, T0));
        return (w.ToArray(), at);
    }

    public static BadCapture Get(string name)
    {
        switch (name)
        {
            case "wrong_magic":
                return new BadCapture([.. "GIF89a"u8, .. new byte[40]], CaptureErrorKind.BadMagic, 0, 0);
            case "random_bytes":
                byte[] random = new byte[4096];
                new Random(20240229).NextBytes(random);
                return new BadCapture(random, CaptureErrorKind.BadMagic, 0, 0);
            case "pcapng_bad_byte_order_magic":
                {
                    PcapNgWriter w = PcapNg(2);
                    int at = w.ToArray().Length;
                    byte[] capture = w.Section(false, new NgInterface(LinkTypes.Raw)).ToArray();
                    Put32(capture, at + 8, 0x1A2B3C4E);
                    return new BadCapture(capture, CaptureErrorKind.BadMagic, at, 2);
                }

            case "pcap_record_over_snaplen":
                {
                    byte[] capture = PcapWriter.Write([Packet(0), new TestPacket(LinkTypes.Ethernet, new byte[129], T0)], LinkTypes.Ethernet, snapLen: 128);
                    return new BadCapture(capture, CaptureErrorKind.RecordTooLong, 24 + 16 + Packet(0).Frame.Length, 1);
                }

            case "pcap_record_over_256k":
                {
                    byte[] capture = PcapWriter.Write([Packet(0), new TestPacket(LinkTypes.Ethernet, new byte[(256 * 1024) + 1], T0)], LinkTypes.Ethernet, snapLen: 0);
                    return new BadCapture(capture, CaptureErrorKind.RecordTooLong, 24 + 16 + Packet(0).Frame.Length, 1);
                }

            case "pcap_zero_length":
                {
                    byte[] capture = PcapWriter.Write([Packet(0), Packet(1), new TestPacket(LinkTypes.Ethernet, [], T0)], LinkTypes.Ethernet);
                    return new BadCapture(capture, CaptureErrorKind.ZeroLengthRecord, capture.Length - 16, 2);
                }

            case "pcap_original_below_captured":
                {
                    byte[] capture = PcapWriter.Write([Packet(0), Packet(1) with { OriginalLength = 10 }], LinkTypes.Ethernet);
                    return new BadCapture(capture, CaptureErrorKind.InconsistentLength, 24 + 16 + Packet(0).Frame.Length, 1);
                }

            case "pcapng_zero_length":
                {
                    (byte[] capture, int at) = PcapNgWithLastBlockAt();
                    Put32(capture, at + 20, 0);
                    return new BadCapture(capture, CaptureErrorKind.ZeroLengthRecord, at, 2);
                }

            case "pcapng_packet_over_256k":
                {
                    (byte[] capture, int at) = PcapNgWithLastBlockAt((256 * 1024) + 1);
                    return new BadCapture(capture, CaptureErrorKind.RecordTooLong, at, 2);
                }

            case "pcapng_block_over_limit":
                {
                    (byte[] capture, int at) = PcapNgWithLastBlockAt(300_000);
                    return new BadCapture(capture, CaptureErrorKind.RecordTooLong, at, 2);
                }

            case "pcapng_packet_over_snaplen":
                {
                    (byte[] capture, int at) = PcapNgWithLastBlockAt(129, snapLen: 128);
                    return new BadCapture(capture, CaptureErrorKind.RecordTooLong, at, 2);
                }

            case "pcapng_captured_beyond_block":
                {
                    (byte[] capture, int at) = PcapNgWithLastBlockAt();
                    Put32(capture, at + 20, Get32(capture, at + 4));
                    return new BadCapture(capture, CaptureErrorKind.InconsistentLength, at, 2);
                }

            case "pcapng_trailing_length_differs":
                {
                    (byte[] capture, int at) = PcapNgWithLastBlockAt();
                    Put32(capture, capture.Length - 4, Get32(capture, at + 4) + 4);
                    return new BadCapture(capture, CaptureErrorKind.InconsistentLength, at, 2);
                }

            case "pcapng_length_not_multiple_of_4":
                {
                    (byte[] capture, int at) = PcapNgWithLastBlockAt();
                    Put32(capture, at + 4, Get32(capture, at + 4) - 2);
                    return new BadCapture(capture, CaptureErrorKind.InconsistentLength, at, 2);
                }

            case "pcapng_length_below_12":
                {
                    (byte[] capture, int at) = PcapNgWithLastBlockAt();
                    Put32(capture, at + 4, 8);
                    return new BadCapture(capture, CaptureErrorKind.InconsistentLength, at, 2);
                }

            case "pcapng_undefined_interface":
                {
                    (byte[] capture, int at) = PcapNgWithLastBlockAt();
                    Put32(capture, at + 8, 1);
                    return new BadCapture(capture, CaptureErrorKind.UnknownInterface, at, 2);
                }

            case "pcapng_interface_of_previous_section":
                {
                    PcapNgWriter w = PcapNg(2).Section(false, new NgInterface(LinkTypes.Raw));
                    int at = w.ToArray().Length;
                    byte[] capture = w.Enhanced(Packet(5, LinkTypes.Raw)).ToArray();
                    Put32(capture, at + 8, 1);
                    return new BadCapture(capture, CaptureErrorKind.UnknownInterface, at, 2);
                }

            case "pcapng_simple_packet_without_interface":
                {
                    PcapNgWriter w = PcapNg(2).Section(true);
                    int at = w.ToArray().Length;
                    return new BadCapture(w.Simple(Frame(LinkTypes.Raw, 0)).ToArray(), CaptureErrorKind.UnknownInterface, at, 2);
                }

            case "pcapng_tsresol_out_of_range":
                {
                    PcapNgWriter w = PcapNg(2);
                    int at = w.ToArray().Length;
                    byte[] capture = w.Section(true, new NgInterface(LinkTypes.Raw), new NgInterface(LinkTypes.Raw, TsResol: 19)).ToArray();

                    // The bad interface block follows the section header and the good interface block.
                    int shb = (int)BinaryPrimitives.ReadUInt32BigEndian(capture.AsSpan(at + 4));
                    int idb = (int)BinaryPrimitives.ReadUInt32BigEndian(capture.AsSpan(at + shb + 4));
                    return new BadCapture(capture, CaptureErrorKind.InconsistentLength, at + shb + idb, 2);
                }

            default:
                throw new ArgumentOutOfRangeException(nameof(name));
        }
    }

    /// <summary>A good capture cut inside its last record: the fault is at the start of that record.</summary>
    public static BadCapture Truncated(bool pcapNg, int cut)
    {
        byte[] whole = pcapNg ? PcapNg(3).ToArray() : Pcap(3);
        byte[] firstTwo = pcapNg ? PcapNg(2).ToArray() : Pcap(2);
        return new BadCapture(whole[..(firstTwo.Length + cut)], CaptureErrorKind.Truncated, firstTwo.Length, 2);
    }
}
