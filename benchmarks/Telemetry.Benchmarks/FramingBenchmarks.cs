using System.Buffers;
using System.IO.Compression;
using BenchmarkDotNet.Attributes;
using Telemetry.Core.Capture;
using CaptureFormat = Telemetry.Host.Simulation.CaptureFormat;

namespace Telemetry.Benchmarks;

/// <summary>
/// Capture framing alone, per format, over 1 M packets of the simulator's mix held in memory:
/// pcap and pcapng framed from one buffer, and gzip-compressed pcap inflated by
/// <see cref="GZipStream"/> into a 64 KiB buffer as the ingestor's pipe does. Setup checks that every format frames all 1 M packets. Each operation is one packet.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class FramingBenchmarks
{
    private const int Packets = 1_000_000;
    private byte[] _capture = [];
    private readonly byte[] _inflated = new byte[1 << 16];

    [Params("pcap", "pcapng", "pcap.gz")]
    public string Format { get; set; } = "pcap";

    [GlobalSetup]
    public void Setup()
    {
        byte[] capture = SyntheticCapture.Pcap(Packets, format: Format == "pcapng" ? CaptureFormat.PcapNg : CaptureFormat.Pcap);
        if (Format == "pcap.gz")
        {
            using var compressed = new MemoryStream();
            using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
            {
                gzip.Write(capture);
            }

            capture = compressed.ToArray();
        }

        _capture = capture;
        if (Frame() != Packets)
        {
            throw new InvalidOperationException($"{Format}: framed {Frame()} packets, not {Packets}");
        }
    }

    [Benchmark(OperationsPerInvoke = Packets)]
    public long Frame() => Format == "pcap.gz" ? FrameInflated() : FrameBuffer(_capture);

    private static long FrameBuffer(byte[] capture)
    {
        var buffer = new ReadOnlySequence<byte>(capture);
        using var reader = new CaptureReader();
        long packets = 0;
        while (reader.TryReadPacket(ref buffer, out CapturedPacket packet))
        {
            packets += packet.Data.IsEmpty ? 0 : 1;
        }

        return packets;
    }

    // Inflates a buffer at a time and frames what it holds; a record cut at the buffer's end
    // is moved to its front before the next read, as a pipe keeps unread bytes.
    private long FrameInflated()
    {
        using var gzip = new GZipStream(new MemoryStream(_capture), CompressionMode.Decompress);
        using var reader = new CaptureReader();
        long packets = 0;
        int kept = 0;
        int read;
        while ((read = gzip.Read(_inflated, kept, _inflated.Length - kept)) > 0)
        {
            var buffer = new ReadOnlySequence<byte>(_inflated, 0, kept + read);
            while (reader.TryReadPacket(ref buffer, out CapturedPacket packet))
            {
                packets += packet.Data.IsEmpty ? 0 : 1;
            }

            kept = (int)buffer.Length;
            buffer.CopyTo(_inflated);
        }

        return packets;
    }
}
