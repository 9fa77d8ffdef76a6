using Telemetry.Host.Simulation;

namespace Telemetry.Benchmarks;

/// <summary>An in-memory pcap of the simulator's darknet mix, built once per benchmark class.</summary>
internal static class SyntheticCapture
{
    public static byte[] Pcap(int packets, int prefixLength = 16, int sources = 20_000, CaptureFormat format = CaptureFormat.Pcap)
    {
        using var stream = new MemoryStream();
        var writer = new PcapStreamWriter(stream, format);
        var generator = new DarknetTrafficGenerator(0xC6120000, prefixLength, sources, seed: 7);
        byte[] frame = new byte[DarknetTrafficGenerator.MaxFrameBytes];
        long ts = 1_700_000_000L * 1_000_000_000;
        for (int i = 0; i < packets; i++)
        {
            int length = generator.Next(frame);
            writer.WriteAsync(ts + (i * 1000L), frame.AsMemory(0, length), CancellationToken.None).AsTask().GetAwaiter().GetResult();
        }

        writer.FlushAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
        return stream.ToArray();
    }
}
