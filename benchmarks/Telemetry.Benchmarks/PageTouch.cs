using System.Diagnostics;
using System.Globalization;

namespace Telemetry.Benchmarks;

/// <summary>
/// What first touching fresh memory costs on this machine: allocates an array of the given
/// MiB (the GC hands out large arrays without writing them), writes one word per 4 KiB page,
/// then writes the same words again. The first pass pays a page fault per page, the second
/// does not. Five rounds, each on a new array while the earlier ones stay alive (so the memory
/// is fresh from the OS each time, not reused by the GC); prints each and the median.
/// </summary>
internal static class PageTouch
{
    private const int PageWords = 4096 / sizeof(ulong);

    public static void Run(string[] args)
    {
        int mib = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 256;
        var firsts = new List<double>();
        var kept = new List<ulong[]>();
        for (int round = 0; round < 5; round++)
        {
            var words = new ulong[mib * (1L << 20) / sizeof(ulong)];
            double first = Touch(words);
            double again = Touch(words);
            int pages = words.Length / PageWords;
            firsts.Add(first * 1000 / pages);
            Console.WriteLine($"round {round + 1}: {mib} MiB, {pages} pages: first touch {first:F0} ms ({first * 1000 / pages:F2} µs/page), again {again:F1} ms");
            kept.Add(words);
        }

        firsts.Sort();
        Console.WriteLine($"median first touch: {firsts[firsts.Count / 2]:F2} µs per 4 KiB page ({4.0 / 1024 / (firsts[firsts.Count / 2] * 1e-6):F0} MiB/s)");
    }

    private static double Touch(ulong[] words)
    {
        var stopwatch = Stopwatch.StartNew();
        for (int i = 0; i < words.Length; i += PageWords)
        {
            words[i] = (ulong)i;
        }

        return stopwatch.Elapsed.TotalMilliseconds;
    }
}
