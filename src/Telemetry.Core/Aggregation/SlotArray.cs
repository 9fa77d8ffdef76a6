using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// A zeroed, power-of-two array of 64-bit slot words in native memory: the slots of a
/// <see cref="KeyTable{TKey, TValue}"/> or a <see cref="FingerprintSet"/>. They live outside
/// the GC heap because they are what grows, and they grow in place (<see cref="Resize"/>): a
/// table that doubles opens the next half of its array and rehashes into the whole, instead of
/// filling a new array and dropping the old. Filling a window of millions of keys from empty
/// doubles each array a dozen times; with a new array each time, the arrays mapped over the fill
/// added up to twice the final one, all of it fresh memory the kernel had to zero (slow on this
/// project's VM: benchmarks/README.md), and the old and new array were both held at each doubling.
/// </summary>
/// <remarks>
/// On Linux an array of <see cref="MapBytes"/> or more lives in a <see cref="NativeRegion"/>: a
/// reservation of address space for <see cref="MaxLength"/> slots on a 2 MiB boundary, opened as
/// far as the array reaches and advised (<c>madvise(MADV_HUGEPAGE)</c>) to be backed by 2 MiB
/// pages where the kernel's transparent huge pages are on or in <c>madvise</c> mode: a probe into
/// millions of slots is a random access, and with 4 KiB pages most should also miss the TLB (a
/// few thousand entries map about 10 MiB of them). On this project's VM the engine ran 1.2-1.3x
/// faster with huge pages (benchmarks/README.md), and first touching a huge page costs less per
/// 4 KiB than 4 KiB pages do. A slot array is touched all over as it fills, so whole huge pages
/// cost no more memory than small ones. Smaller arrays come from malloc and are reallocated as
/// they grow; glibc's malloc raises its own mmap threshold (up to 32 MiB) after each large
/// free and then keeps freed blocks below it in its arenas instead of returning them, which is
/// why large arrays are not left to it.
/// Indexing does not check bounds: callers mask their index with <see cref="Mask"/>. Only the
/// owning table touches its slots, and it resizes or disposes an array only between its own
/// reads, so no reader can see freed memory. An array that is never disposed (a table the GC
/// collects) is freed by its finalizer.
/// </remarks>
internal sealed unsafe class SlotArray : IDisposable
{
    /// <summary>Arrays this size or larger live in a reservation of their own on Linux.</summary>
    public const int MapBytes = 1 << 16;

    /// <summary>The most slots an array can grow to (8 GiB).</summary>
    public const int MaxLength = 1 << 30;

    /// <summary>Bytes of slots per key in an array filled to <see cref="MaxLoad"/> (8 bytes × 4/3, rounded up).</summary>
    public const int BytesPerKeyAtMaxLoad = ((4 * sizeof(ulong)) + 2) / 3;

    private ulong* _words;

    // Where the slots live once the array reaches MapBytes on Linux; null while they come from malloc.
    private NativeRegion? _region;

    public SlotArray(int length)
    {
        CheckLength(length);
        Length = length;
        if (NativePages.Available && Bytes >= MapBytes)
        {
            _region = Reserve(Bytes);
            _words = (ulong*)_region.Base;
        }
        else
        {
            _words = (ulong*)NativeMemory.AllocZeroed((nuint)length, sizeof(ulong));
            GC.AddMemoryPressure(Bytes);
        }
    }

    ~SlotArray() => Free();

    public int Length { get; private set; }

    /// <summary>Length - 1: a hash's low bits under this mask are its home slot.</summary>
    public int Mask => Length - 1;

    public long Bytes => Length * (long)sizeof(ulong);

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
    /// off are given back. A large array on Linux stays where it is, so growing it costs only the
    /// fresh memory of the slots added; a small one is reallocated, and moves into a reservation
    /// of its own once it reaches <see cref="MapBytes"/>. The caller rehashes: a slot's home
    /// depends on the length.
    /// </summary>
    public void Resize(int length)
    {
        CheckLength(length);
        if (length == Length)
        {
            return;
        }

        long bytes = length * (long)sizeof(ulong);
        if (_region is not null)
        {
            if (bytes > Bytes)
            {
                _region.Open(bytes);
            }
            else
            {
                _region.Shrink(bytes);
            }
        }
        else if (NativePages.Available && bytes >= MapBytes)
        {
            // Growing out of malloc: a copy of at most MapBytes / 2, once.
            NativeRegion region = Reserve(bytes);
            Buffer.MemoryCopy(_words, region.Base, bytes, Bytes);
            NativeMemory.Free(_words);
            GC.RemoveMemoryPressure(Bytes);
            _region = region;
            _words = (ulong*)region.Base;
        }
        else
        {
            _words = (ulong*)NativeMemory.Realloc(_words, (nuint)bytes);
            if (bytes > Bytes)
            {
                NativeMemory.Clear(_words + Length, (nuint)(bytes - Bytes));
                GC.AddMemoryPressure(bytes - Bytes);
            }
            else
            {
                GC.RemoveMemoryPressure(Bytes - bytes);
            }
        }

        Length = length;
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private static NativeRegion Reserve(long bytes)
    {
        var region = new NativeRegion(MaxLength * (long)sizeof(ulong));
        region.Open(bytes);
        return region;
    }

    private static void CheckLength(int length) =>
        Debug.Assert(length > 0 && length <= MaxLength && (length & (length - 1)) == 0, "the length is a power of two");

    private void Free()
    {
        if (_region is not null)
        {
            // Its own finalizer may have run first; disposing twice is harmless.
            _region.Dispose();
            _region = null;
        }
        else if (_words != null)
        {
            NativeMemory.Free(_words);
            GC.RemoveMemoryPressure(Bytes);
        }

        _words = null;
    }
}
