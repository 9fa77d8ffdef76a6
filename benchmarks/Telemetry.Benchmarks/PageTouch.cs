using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Telemetry.Benchmarks;

/// <summary>
/// What memory costs on this machine, per kind of backing:
/// <list type="bullet">
/// <item><c>gc</c>: an array from the GC (it hands out large arrays without writing them);</item>
/// <item><c>native</c>: 2 MiB-aligned native memory, left to the kernel's default (4 KiB pages
/// while transparent huge pages are in <c>madvise</c> mode);</item>
/// <item><c>huge</c>: the same with <c>madvise(MADV_HUGEPAGE)</c>, so the kernel backs it with
/// 2 MiB pages when it can.</item>
/// </list>
/// Each round writes one word per 4 KiB page of fresh memory (the first touch pays the page
/// faults), writes them again (no faults), then follows a random cyclic chain of dependent
/// loads through the whole buffer, which measures the latency of a load that misses every
/// cache (and, with 4 KiB pages, the TLB), and then the same number of loads and stores to
/// random lines whose addresses are known up front, none waiting for another, which measures
/// how many misses one core keeps in flight (an update of a hash table's slot, without the
/// table), and last a chain of dependent loads whose lines were prefetched ahead, which shows
/// whether software prefetches land (a hash table's probes are prefetched, then read). Five
/// rounds, each on new memory while the earlier ones stay alive, so the memory is fresh from the
/// OS each time; prints each and the medians.
/// </summary>
internal static unsafe partial class PageTouch
{
    private const int PageWords = 4096 / sizeof(ulong);
    private const nuint HugePage = 2 << 20;
    private const int MadviseHugePage = 14;
    private const int ChaseLoads = 4 << 20;
    private const int PrefetchAhead = 32;
    private const int LineWords = 64 / sizeof(ulong);

    public static void Run(string[] args)
    {
        int mib = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 256;
        string kind = args.Length > 1 ? args[1] : "gc";
        if (kind is not ("gc" or "native" or "huge"))
        {
            throw new ArgumentException($"pagetouch: unknown memory kind '{kind}' (gc, native or huge)");
        }

        long words = mib * (1L << 20) / sizeof(ulong);
        var firsts = new List<double>();
        var chases = new List<double>();
        var scatters = new List<double>();
        var prefetcheds = new List<double>();
        var kept = new List<ulong[]>();
        for (int round = 0; round < 5; round++)
        {
            ulong* memory;
            if (kind == "gc")
            {
                var array = GC.AllocateUninitializedArray<ulong>((int)words, pinned: true);
                kept.Add(array);
                memory = (ulong*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
            }
            else
            {
                memory = (ulong*)NativeMemory.AlignedAlloc((nuint)(words * sizeof(ulong)), HugePage);
                if (kind == "huge" && Madvise(memory, (nuint)(words * sizeof(ulong)), MadviseHugePage) != 0)
                {
                    throw new InvalidOperationException($"pagetouch: madvise(MADV_HUGEPAGE) failed, errno {Marshal.GetLastPInvokeError()}");
                }
            }

            double first = Touch(memory, words);
            double again = Touch(memory, words);
            double chase = Chase(memory, words);
            double scatter = Scatter(memory, words);
            double prefetched = Prefetched(memory, words);
            long pages = words / PageWords;
            firsts.Add(first * 1000 / pages);
            chases.Add(chase);
            scatters.Add(scatter);
            prefetcheds.Add(prefetched);
            Console.WriteLine($"round {round + 1}: {kind} {mib} MiB, {pages} pages of 4 KiB: first touch {first:F0} ms ({first * 1000 / pages:F2} µs/page), again {again:F1} ms; random dependent load {chase:F1} ns; independent random load and store {scatter:F1} ns; dependent load of a line prefetched {PrefetchAhead} loads ahead {prefetched:F1} ns");
        }

        firsts.Sort();
        chases.Sort();
        scatters.Sort();
        prefetcheds.Sort();
        double median = firsts[firsts.Count / 2];
        Console.WriteLine($"median first touch: {median:F2} µs per 4 KiB of {kind} memory ({4.0 / 1024 / (median * 1e-6):F0} MiB/s); median random dependent load: {chases[chases.Count / 2]:F1} ns; median independent random load and store: {scatters[scatters.Count / 2]:F1} ns; median dependent load of a prefetched line: {prefetcheds[prefetcheds.Count / 2]:F1} ns");
        GC.KeepAlive(kept);
    }

    private static double Touch(ulong* memory, long words)
    {
        var stopwatch = Stopwatch.StartNew();
        for (long i = 0; i < words; i += PageWords)
        {
            memory[i] = (ulong)i;
        }

        return stopwatch.Elapsed.TotalMilliseconds;
    }

    /// <summary>
    /// Links one word per 64-byte line into a single random cycle (Sattolo's shuffle over the
    /// lines, so every load depends on the previous one and none is predictable), then times
    /// <see cref="ChaseLoads"/> loads along it. Returns nanoseconds per load.
    /// </summary>
    private static double Chase(ulong* memory, long words)
    {
        long lines = words / LineWords;
        var order = new int[lines];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        var random = new Random(17);
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = random.Next(i);
            (order[i], order[j]) = (order[j], order[i]);
        }

        for (int i = 0; i < order.Length; i++)
        {
            memory[(long)i * LineWords] = (ulong)order[i] * LineWords;
        }

        ulong at = 0;
        var stopwatch = Stopwatch.StartNew();
        for (int i = 0; i < ChaseLoads; i++)
        {
            at = memory[at];
        }

        double elapsed = stopwatch.Elapsed.TotalNanoseconds;
        GC.KeepAlive(at);
        return elapsed / ChaseLoads;
    }

    /// <summary>
    /// Times <see cref="ChaseLoads"/> updates (a load and a store) of one word in random lines
    /// of the buffer, the lines drawn up front so no address waits for a load. Returns
    /// nanoseconds per update: the latency of a miss divided by the misses in flight.
    /// </summary>
    private static double Scatter(ulong* memory, long words)
    {
        long[] at = RandomLines(words, ChaseLoads, seed: 29);
        ulong sum = 0;
        var stopwatch = Stopwatch.StartNew();
        for (int i = 0; i < at.Length; i++)
        {
            ulong word = memory[at[i]];
            sum += word;
            memory[at[i]] = word + 1;
        }

        double elapsed = stopwatch.Elapsed.TotalNanoseconds;
        GC.KeepAlive(sum);
        return elapsed / ChaseLoads;
    }

    /// <summary>
    /// Times <see cref="ChaseLoads"/> loads of one word in random lines whose addresses are
    /// known up front, each load made to wait for the one before it (its index adds a bit of the
    /// previous word that is always zero), with a software prefetch of the line
    /// <see cref="PrefetchAhead"/> loads ahead. If the prefetches bring the lines in, this
    /// costs what <see cref="Scatter"/> does; if the machine drops them (a prefetch is only a
    /// hint), every load waits out a whole miss, as in <see cref="Chase"/>. This is the pattern
    /// of the hash tables' probes: prefetched early, then read by code whose next step waits for
    /// the read. Returns nanoseconds per load.
    /// </summary>
    private static double Prefetched(ulong* memory, long words)
    {
        long[] at = RandomLines(words, ChaseLoads + PrefetchAhead, seed: 31);
        ulong word = 0;
        var stopwatch = Stopwatch.StartNew();
        for (int i = 0; i < ChaseLoads; i++)
        {
            if (Sse.IsSupported)
            {
                Sse.Prefetch0(memory + at[i + PrefetchAhead]);
            }

            // Every word of the buffer is far below 2^62 (page and line offsets, counts), so the shift is 0, but the load must wait for it.
            word = memory[at[i] + (long)(word >> 62)];
        }

        double elapsed = stopwatch.Elapsed.TotalNanoseconds;
        GC.KeepAlive(word);
        return elapsed / ChaseLoads;
    }

    /// <summary>The word offsets of <paramref name="count"/> lines of the buffer drawn at random (with repeats), from a fixed seed.</summary>
    private static long[] RandomLines(long words, int count, int seed)
    {
        long lines = words / LineWords;
        var at = new long[count];
        var random = new Random(seed);
        for (int i = 0; i < at.Length; i++)
        {
            at[i] = random.NextInt64(lines) * LineWords;
        }

        return at;
    }

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(void* address, nuint length, int advice);
}
