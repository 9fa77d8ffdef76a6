using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// A zeroed, power-of-two array of 64-bit slot words in native memory: the slots of a
/// <see cref="KeyTable{TKey, TValue}"/> or a <see cref="FingerprintSet"/>. They live outside
/// the GC heap because they are what grows, and a large array grows in place
/// (<see cref="Resize"/>): a table that doubles opens the next half of its array and rehashes
/// into the whole, instead of filling a new array and dropping the old. Filling a window of
/// millions of keys from empty doubles each array a dozen times; with a new array each time, the
/// arrays mapped over the fill added up to twice the final one, all of it fresh memory the kernel
/// had to zero (slow on this project's VM: benchmarks/HISTORY.md), and the old and new array were
/// both held at each doubling.
/// </summary>
/// <remarks>
/// The slots are a <see cref="NativeRegion"/>: from malloc while small, and on Linux from
/// <see cref="NativeRegion.MapBytes"/> (2 MiB) on in a reservation on a 2 MiB boundary, advised
/// (<c>madvise(MADV_HUGEPAGE)</c>) to be backed by 2 MiB pages where the kernel's transparent
/// huge pages are on or in <c>madvise</c> mode: a probe into millions of slots is a random
/// access, and with 4 KiB pages most should also miss the TLB (a few thousand entries map about
/// 10 MiB of them). On this project's VM the engine ran 1.2-1.3x faster with huge pages
/// (benchmarks/HISTORY.md), and first touching a huge page costs less per 4 KiB than 4 KiB pages
/// do. A slot array is touched all over as it fills, so whole huge pages cost no more memory than
/// small ones. glibc's malloc raises its own mmap threshold (up to 32 MiB) after each large free
/// and then keeps freed blocks below it in its arenas instead of returning them, which is one
/// reason large arrays are not left to it.
/// Indexing does not check bounds: callers mask their index with <see cref="Mask"/>. The array
/// may move when it is resized, so callers index through it rather than keep its addresses. Only
/// the owning table touches its slots, and it resizes or disposes an array only between its own
/// reads, so no reader can see freed memory. An array that is never disposed (a table the GC
/// collects) is freed by its region's finalizer.
/// </remarks>
internal sealed unsafe class SlotArray : IDisposable
{
    /// <summary>The most slots an array can grow to (8 GiB).</summary>
    public const int MaxLength = 1 << 30;

    /// <summary>Bytes of slots per key in an array filled to <see cref="MaxLoad"/> (8 bytes × 4/3, rounded up).</summary>
    public const int BytesPerKeyAtMaxLoad = ((4 * sizeof(ulong)) + 2) / 3;

    private readonly NativeRegion _region = new(MaxLength * (long)sizeof(ulong));

    // The region's base, cached for indexing; null once disposed.
    private ulong* _words;

    public SlotArray(int length)
    {
        CheckLength(length);
        _region.Open(length * (long)sizeof(ulong));
        _words = (ulong*)_region.Base;
        Length = length;
    }

    public int Length { get; private set; }

    /// <summary>Length - 1: a hash's low bits under this mask are its home slot.</summary>
    public int Mask => Length - 1;

    public long Bytes => Length * (long)sizeof(ulong);

    /// <summary>Whether the slots sit in a reservation of their own rather than in malloc (see <see cref="NativeRegion"/>).</summary>
    public bool IsMapped => _region.IsMapped;

    /// <summary>The slot at an index in 0 to <see cref="Mask"/>; not bounds-checked.</summary>
    public ref ulong this[int index]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            Debug.Assert((uint)index < (uint)Length, "the index is masked");
            return ref _words[index];
        }
    }

    /// <summary>
    /// The most keys an array of <paramref name="length"/> slots takes before its table doubles it:
    /// 3/4 of them. Linear probing stays short below that (about 8.5 slots scanned for a new key
    /// at the limit, by Knuth's formula), and 8 slots share a cache line.
    /// </summary>
    public static int MaxLoad(int length) => length / 4 * 3;

    /// <summary>The address of the slot at an index (for prefetching and cache-line arithmetic).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong* AddressOf(int index) => _words + index;

    /// <summary>The first empty slot of the linear probe that starts at a hash's home slot (the array must have one).</summary>
    public int FreeSlot(ulong hash)
    {
        int mask = Mask;
        int i = (int)hash & mask;
        while (_words[i] != 0)
        {
            i = (i + 1) & mask;
        }

        return i;
    }

    public void Clear() => NativeMemory.Clear(_words, (nuint)Bytes);

    /// <summary>
    /// Makes the array <paramref name="length"/> slots long (a power of two), keeping the first
    /// slots as they are (as many as both lengths have); slots added read as zero, and slots cut
    /// off are given back. A large array on Linux grows where it is, so growing costs only the
    /// fresh memory of the slots added, until it outgrows its reservation and its pages move to a
    /// larger one (no copy either); a small one is reallocated. The caller rehashes: a slot's
    /// home depends on the length.
    /// </summary>
    public void Resize(int length)
    {
        CheckLength(length);
        if (length == Length)
        {
            return;
        }

        long bytes = length * (long)sizeof(ulong);
        if (bytes > Bytes)
        {
            _region.Open(bytes);
        }
        else
        {
            _region.Shrink(bytes);
        }

        _words = (ulong*)_region.Base;
        Length = length;
    }

    /// <summary>
    /// Doubles the array where it stands (<see cref="Resize"/>) and moves each word to where a
    /// probe under the new mask finds it, for arrays whose words are nonzero where used and
    /// whose home slot is that of <c>word &gt;&gt; <paramref name="homeShift"/></c> taken as a
    /// hash (<see cref="FreeSlot"/>): a word's home is then either the same slot or the one half
    /// the new length further on. One pass along the slots, with no random access; only the
    /// added half is fresh memory.
    /// </summary>
    public void Double(int homeShift)
    {
        int half = Length;
        Resize(half * 2);

        // The runs of used slots at either end of the old half, which may be one run that wraps
        // round from the end to the start, are set aside and put back last, into a finished array.
        int first = 0;
        while (_words[first] != 0)
        {
            first++;
        }

        int last = half - 1;
        while (_words[last] != 0)
        {
            last--;
        }

        int held = first + (half - 1 - last);
        ulong[] aside = ArrayPool<ulong>.Shared.Rent(held);
        int n = 0;
        for (int i = 0; i < first; i++)
        {
            aside[n++] = _words[i];
            _words[i] = 0;
        }

        for (int i = last + 1; i < half; i++)
        {
            aside[n++] = _words[i];
            _words[i] = 0;
        }

        // Between them, in order, each word is taken out and probed for afresh. Its home lies
        // after `first` and at or before where it sat, so one that keeps its home lands at or
        // before the slot it left (the slots up to there are already redone); one whose home
        // moved to the new half lands there, or wraps round into the slots already redone. No
        // probe passes a slot not yet redone, so taking one out never cuts another's probe short.
        for (int i = first + 1; i < last; i++)
        {
            ulong word = _words[i];
            if (word != 0)
            {
                _words[i] = 0;
                _words[FreeSlot(word >> homeShift)] = word;
            }
        }

        for (int i = 0; i < n; i++)
        {
            _words[FreeSlot(aside[i] >> homeShift)] = aside[i];
        }

        ArrayPool<ulong>.Shared.Return(aside);
    }

    /// <summary>Gives the slots back to the system at once; the array must not be used afterwards.</summary>
    public void Dispose()
    {
        _region.Dispose();
        _words = null;
    }

    private static void CheckLength(int length) =>
        Debug.Assert(length > 0 && length <= MaxLength && (length & (length - 1)) == 0, "the length is a power of two");
}
