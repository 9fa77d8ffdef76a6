using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Telemetry.Core.Aggregation;

/// <summary>The prefetch hint <see cref="KeyTable{TKey, TValue}"/> and <see cref="FingerprintSet"/> share.</summary>
internal static class SlotPrefetch
{
    /// <summary>Bytes of a cache line on the x64 and Arm64 cores this runs on.</summary>
    public const int LineBytes = 64;

    /// <summary>
    /// Asks the CPU to start loading the cache line of the slot a hash starts probing at, in a
    /// power-of-two slot array (a hint: no effect without SSE). A prefetch never faults.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Home(SlotArray slots, ulong hash)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(slots.AddressOf((int)hash & slots.Mask));
        }
    }

    /// <summary>Asks the CPU to start loading the cache line a reference points into (a hint, as above).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Line<T>(ref T item)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(Unsafe.AsPointer(ref item));
        }
    }
}
