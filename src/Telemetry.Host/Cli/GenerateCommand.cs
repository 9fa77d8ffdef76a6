using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using Telemetry.Host.Simulation;

namespace Telemetry.Host.Cli;

/// <summary>
/// <c>generate --out FILE</c>: writes a synthetic darknet capture (pcap or pcapng, optionally
/// gzip) with synchronous writes through a 1 MiB buffer, so 20 million packets take seconds.
/// </summary>
internal static class GenerateCommand
{
    /// <summary>The flags <see cref="GeneratorSettings.Parse"/> reads, shared with <c>stream</c>.</summary>
    public static readonly string[] GeneratorFlags = ["packets", "rate", "darknet", "sources", "start", "seed", "mix", "format"];

    public static int Run(string[] args)
    {
        CommandLine line = CommandLine.Parse(args, [.. GeneratorFlags, "out", "gzip"]);
        string output = line.Get("out") ?? throw new ArgumentException("generate needs --out FILE ('-' for stdout)");
        GeneratorSettings settings = GeneratorSettings.Parse(line, 100_000);
        bool gzip = line.Get("gzip") is { } flag ? ParseBool(flag) : output.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);

        var stopwatch = Stopwatch.StartNew();
        using (Stream file = output == "-" ? Console.OpenStandardOutput() : new FileStream(output, FileMode.Create, FileAccess.Write, FileShare.Read, 1))
        using (Stream target = gzip ? new GZipStream(file, CompressionLevel.Fastest) : file)
        {
            settings.WriteTo(target, settings.Seed, settings.Packets, settings.StartNs);
        }

        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"generate: wrote {settings.Packets} packets ({settings.Mix}, {settings.Format}{(gzip ? ", gzip" : "")}) to {output} in {stopwatch.Elapsed.TotalSeconds:F2} s"));
        return 0;
    }

    private static bool ParseBool(string text) => text switch
    {
        "true" or "yes" or "1" => true,
        "false" or "no" or "0" => false,
        _ => throw new FormatException($"--gzip takes true or false, not '{text}'"),
    };
}

/// <summary>What to synthesise: the generator's options as <c>generate</c> and <c>stream</c> take them.</summary>
internal sealed record GeneratorSettings(
    long Packets, long Rate, uint DarknetBase, int PrefixLength, int Sources, int Seed, TrafficMix Mix, CaptureFormat Format, long StartNs)
{
    public static GeneratorSettings Parse(CommandLine line, long defaultPackets)
    {
        long packets = line.GetInt64("packets", defaultPackets);
        long rate = Math.Max(1, line.GetInt64("rate", 10_000));
        (uint prefix, int length) = DarknetTrafficGenerator.ParsePrefix(line.Get("darknet") ?? "198.18.0.0/20");
        DateTimeOffset start = line.Get("start") is { } text
            ? DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal)
            : DateTimeOffset.UtcNow.AddSeconds(-(double)packets / rate);
        return new GeneratorSettings(
            packets, rate, prefix, length, (int)line.GetInt64("sources", 5000), (int)line.GetInt64("seed", 1),
            DarknetTrafficGenerator.ParseMix(line.Get("mix")), PcapStreamWriter.ParseFormat(line.Get("format")),
            start.ToUnixTimeMilliseconds() * 1_000_000);
    }

    /// <summary>
    /// Writes <paramref name="packets"/> packets, evenly spaced at <see cref="Rate"/> from
    /// <paramref name="startNs"/>, and flushes.
    /// </summary>
    public void WriteTo(Stream stream, int seed, long packets, long startNs)
    {
        var generator = new DarknetTrafficGenerator(DarknetBase, PrefixLength, Sources, seed, Mix);
        var writer = new PcapStreamWriter(stream, Format, 1 << 20);
        Span<byte> frame = stackalloc byte[DarknetTrafficGenerator.MaxFrameBytes];
        for (long i = 0; i < packets; i++)
        {
            int size = generator.Next(frame);
            writer.Write(startNs + (long)((double)i * 1_000_000_000 / Rate), frame[..size]);
        }

        writer.Flush();
    }
}
