using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// A zeroed, power-of-two array of 64-bit slot words in native memory: the slots of a
/// <see cref="KeyTable{TKey, TValue}"/> or a <see cref="FingerprintSet"/>. They live outside
/// the GC heap because they are what grows: a table that doubles hands its old slots back at
/// once (<see cref="Dispose"/>), where an old managed array would wait for a full collection
/// as garbage and often stay in the process's memory after it. Filling a window of millions of
/// keys from empty doubles each array a dozen times, and the old arrays together are as large
/// as the final one; the service's peak memory was that much higher.
/// </summary>
/// <remarks>
/// On Linux an array of <see cref="MapBytes"/> or more is mapped straight from the kernel:
/// glibc's malloc raises its own mmap threshold (up to 32 MiB) after each large free, and then
/// keeps the next freed blocks below it in its arenas instead of returning them: near the end of
/// a 10-million-packet replay its arenas held 53 MB, and 15 MB once these arrays were mapped.
/// Fresh mappings are zero and cost nothing until touched.
/// Arrays of <see cref="NativePages.HugePageBytes"/> or more are mapped on a 2 MiB boundary and advised
/// (<c>madvise(MADV_HUGEPAGE)</c>) to be backed by 2 MiB pages, where the kernel's transparent
/// huge pages are on or in <c>madvise</c> mode: a probe into millions of slots is a random
/// access, and with 4 KiB pages most should also miss the TLB (a few thousand entries map about
/// 10 MiB of them). On this project's VM the engine ran 1.2-1.3x faster with it
/// (benchmarks/README.md), and first touching a huge page costs less per 4 KiB than 4 KiB pages do. A slot array is touched all over as it fills, so whole
/// huge pages cost no more memory than small ones.
/// Indexing does not check bounds: callers mask their index with <see cref="Mask"/>. Only the
/// owning table touches its slots, and it disposes an array only after it has stopped using
/// it, so no reader can see freed memory. An array that is never disposed (a table the GC
/// collects) is freed by its finalizer.
/// </remarks>
internal sealed unsafe class SlotArray : IDisposable
{
    /// <summary>Arrays this size or larger are mapped from the kernel on Linux.</summary>
    public const int MapBytes = 1 << 16;

    /// <summary>Bytes of slots per key in an array filled to <see cref="MaxLoad"/> (8 bytes × 4/3, rounded up).</summary>
    public const int BytesPerKeyAtMaxLoad = ((4 * sizeof(ulong)) + 2) / 3;

    private ulong* _words;

    public SlotArray(int length)
    {
        Debug.Assert(length > 0 && (length & (length - 1)) == 0, "the length is a power of two");
        Length = length;
        _words = Mapped ? (ulong*)NativePages.Map((nuint)Bytes, Bytes >= NativePages.HugePageBytes) : (ulong*)NativeMemory.AllocZeroed((nuint)length, sizeof(ulong));
        GC.AddMemoryPressure(Bytes);
    }

    ~SlotArray() => Free();

    public int Length { get; }

    /// <summary>Length - 1: a hash's low bits under this mask are its home slot.</summary>
    public int Mask => Length - 1;

    public long Bytes => Length * (long)sizeof(ulong);

    private bool Mapped => NativePages.Available && Bytes >= MapBytes;

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

    public void Clear() => NativeMemory.Clear(_words, (nuint)Bytes);

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        if (_words != null)
        {
            if (Mapped)
            {
                NativePages.Free(_words, (nuint)Bytes);
            }
            else
            {
                NativeMemory.Free(_words);
            }

            _words = null;
            GC.RemoveMemoryPressure(Bytes);
        }
    }
}
