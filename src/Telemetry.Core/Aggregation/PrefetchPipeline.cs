using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// The prefetches ahead of a loop that adds a batch of packets to their window's tables, one
/// packet at a time: each packet's keys and hashes (<see cref="PacketKeys"/>) are worked out
/// once, <c>2 * <see cref="Distance"/></c> packets before its turn, where its slots are
/// prefetched; <see cref="Distance"/> before it, in two-stage mode, the entries those slots
/// point to; and at its turn the adding loop gets the same keys back. The keys wait in a ring
/// of 32, which stays in the L1 cache. Nearly every packet falls in the same window as the
/// one before, so the loop prefetches into the window it is adding to.
/// </summary>
internal sealed class PrefetchPipeline
{
    /// <summary>How many packets ahead of the one being added its entries are prefetched; its slots twice as far.</summary>
    public const int Distance = 8;

    // The ring holds the keys from the packet being added to the one whose slots are prefetched.
    private const int RingMask = 31;

    private readonly PacketKeys[] _ring = new PacketKeys[RingMask + 1];

    /// <summary>Works out the keys of a batch's first packets and prefetches their slots, before the loop's first <see cref="Next"/>.</summary>
    public void Start(RollupInput[] items, int count, WindowTables? tables, bool twoStage)
    {
        int ahead = Math.Min(count, 2 * Distance);
        for (int j = 0; j < ahead; j++)
        {
            Prepare(items, j, tables, twoStage);
        }
    }

    /// <summary>
    /// Prefetches for the packets <c>2 * <see cref="Distance"/></c> and (in two-stage mode)
    /// <see cref="Distance"/> after packet <paramref name="i"/>, into <paramref name="tables"/>,
    /// and returns packet <paramref name="i"/>'s keys (valid until the next call).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref readonly PacketKeys Next(RollupInput[] items, int i, int count, WindowTables? tables, bool twoStage)
    {
        if (i + (2 * Distance) < count)
        {
            Prepare(items, i + (2 * Distance), tables, twoStage);
        }

        if (twoStage && i + Distance < count)
        {
            tables?.PrefetchEntries(At(i + Distance), items[i + Distance]);
        }

        return ref At(i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Prepare(RollupInput[] items, int j, WindowTables? tables, bool twoStage)
    {
        ref PacketKeys keys = ref At(j);
        keys = new PacketKeys(items[j]);
        if (tables is not null)
        {
            tables.Prefetch(keys);

            // Rows that sit in cache (one-stage mode) skip the entries, and the fingerprint
            // slot is prefetched whether or not the packet will need it.
            if (!twoStage)
            {
                tables.PrefetchFingerprint(items[j], keys.Port);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref PacketKeys At(int j) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_ring), j & RingMask);
}
