using System.Diagnostics;
using System.Globalization;
using Telemetry.Core.Aggregation;

namespace Telemetry.Benchmarks;

/// <summary>
/// <c>rehash KEYS [ROUNDS]</c>: what putting a table's slots back from its entries costs per key,
/// the work of every doubling of a table that grows (a window's first tables fill from empty)
/// and of <see cref="KeyTable{TKey, TValue}.RemoveWhere"/> (the flusher moves a partial's source
/// rows out that way). A source table of KEYS random IPv4 (address, port) keys, its slots filled
/// as a window leaves them; each round removes one key, which compacts the entries and puts every
/// slot back, and adds the key again, so the table keeps its size. Prints each round and the
/// median in ns per key, pinned to one core by the caller (<c>taskset</c>).
/// </summary>
internal static class RehashLoad
{
    public static void Run(string[] args)
    {
        int keys = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 4_000_000;
        int rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 7;
        if (args.Length > 2 && args[2] == "grow")
        {
            Grow(keys, rounds);
            return;
        }

        var random = new Random(5);
        using var table = new KeyTable<CompactAddressKey, SourceStats>();
        var all = new CompactAddressKey[keys];
        while (table.Count < keys)
        {
            CompactAddressKey key = RandomKey(random);
            table.GetValueRefOrAddDefault(key, out bool exists).Packets++;
            if (!exists)
            {
                all[table.Count - 1] = key;
            }
        }

        var times = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            CompactAddressKey gone = all[random.Next(keys)];
            var stopwatch = Stopwatch.StartNew();
            table.RemoveWhere((key, _) => key.Equals(gone));
            stopwatch.Stop();
            table.GetValueRefOrAddDefault(gone, out _).Packets++;
            times[r] = stopwatch.Elapsed.TotalNanoseconds / keys;
            Console.WriteLine($"round {r + 1}: {times[r]:F1} ns/key");
        }

        Report($"{keys} keys, {table.CapacityBytes >> 20} MiB of slots and entries", times);
    }

    // rehash KEYS ROUNDS grow: a new source table each round filled from empty with KEYS random
    // keys, doubling its slots as it goes (page faults of fresh memory included, as in a window's
    // first fill); the ns per key of the whole fill, and of the doublings alone.
    private static void Grow(int keys, int rounds)
    {
        var random = new Random(5);
        var all = new CompactAddressKey[keys];
        for (int i = 0; i < keys; i++)
        {
            all[i] = RandomKey(random);
        }

        var times = new double[rounds];
        var growing = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            using var table = new KeyTable<CompactAddressKey, SourceStats>();
            var stopwatch = Stopwatch.StartNew();
            long inGrowth = 0;
            int growths = 0;
            foreach (CompactAddressKey key in all)
            {
                long start = Stopwatch.GetTimestamp();
                table.GetValueRefOrAddDefault(key, out _).Packets++;
                if (table.Growths != growths)
                {
                    growths = table.Growths;
                    inGrowth += Stopwatch.GetTimestamp() - start;
                }
            }

            stopwatch.Stop();
            times[r] = stopwatch.Elapsed.TotalNanoseconds / keys;
            growing[r] = inGrowth * (1e9 / Stopwatch.Frequency) / keys;
            Console.WriteLine($"round {r + 1}: {times[r]:F1} ns/key, of which {growing[r]:F1} in {growths} doublings");
        }

        Report($"{keys} keys filled from empty", times);
        Report("  the doublings alone", growing);
    }

    // A random nonzero IPv4 source and TCP port, as a source table keys them.
    private static CompactAddressKey RandomKey(Random random) =>
        CompactAddressKey.V4((uint)random.Next() | 1, new PortKey(6, Core.Decode.TrafficClass.TcpSyn, (ushort)random.Next(1, 65536)));

    private static void Report(string what, double[] times)
    {
        double[] sorted = [.. times];
        Array.Sort(sorted);
        Console.WriteLine($"{what}: median {sorted[sorted.Length / 2]:F1} ns/key (runs {sorted[0]:F1}-{sorted[^1]:F1})");
    }
}
