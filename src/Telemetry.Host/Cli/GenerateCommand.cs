using System.Globalization;
using Telemetry.Host.Simulation;

namespace Telemetry.Host.Cli;

/// <summary><c>generate --out FILE</c>: writes a synthetic darknet capture.</summary>
internal static class GenerateCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        CommandLine line = CommandLine.Parse(args, "out", "packets", "rate", "darknet", "sources", "start", "seed");
        string output = line.Get("out") ?? throw new ArgumentException("generate needs --out FILE ('-' for stdout)");
        long packets = line.GetInt64("packets", 100_000);
        long rate = Math.Max(1, line.GetInt64("rate", 10_000));
        (uint prefix, int length) = DarknetTrafficGenerator.ParsePrefix(line.Get("darknet") ?? "198.18.0.0/20");
        var generator = new DarknetTrafficGenerator(prefix, length, (int)line.GetInt64("sources", 5000), (int)line.GetInt64("seed", 1));
        DateTimeOffset start = line.Get("start") is { } text
            ? DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal)
            : DateTimeOffset.UtcNow.AddSeconds(-(double)packets / rate);
        long startNs = start.ToUnixTimeMilliseconds() * 1_000_000;

        await using Stream stream = output == "-" ? Console.OpenStandardOutput() : File.Create(output);
        var writer = new PcapStreamWriter(stream);
        byte[] frame = new byte[DarknetTrafficGenerator.MaxFrameBytes];
        for (long i = 0; i < packets; i++)
        {
            int size = generator.Next(frame);
            await writer.WriteAsync(startNs + (i * 1_000_000_000 / rate), frame.AsMemory(0, size), CancellationToken.None);
        }

        await writer.FlushAsync(CancellationToken.None);
        await Console.Error.WriteLineAsync($"generate: wrote {packets} packets to {output}");
        return 0;
    }
}
