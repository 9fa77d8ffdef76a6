using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Tests.Support;

namespace Telemetry.Core.Tests.Aggregation;

public class SlotArrayTests
{
    [Theory]
    [InlineData(16)] // from malloc
    [InlineData(NativeRegion.MapBytes / sizeof(ulong))] // the smallest mapped from the kernel on Linux
    [InlineData(1 << 20)]
    public void NewArray_IsZeroAndHoldsWhatIsWrittenUntilCleared(int length)
    {
        using var slots = new SlotArray(length);
        Assert.Equal(length - 1, slots.Mask);
        Assert.Equal(length * 8L, slots.Bytes);
        for (int i = 0; i < length; i++)
        {
            Assert.Equal(0UL, slots[i]);
            slots[i] = (ulong)i * 0x9E3779B97F4A7C15UL | 1;
        }

        for (int i = 0; i < length; i++)
        {
            Assert.Equal((ulong)i * 0x9E3779B97F4A7C15UL | 1, slots[i]);
        }

        slots.Clear();
        for (int i = 0; i < length; i++)
        {
            Assert.Equal(0UL, slots[i]);
        }
    }

    [Theory]
    [InlineData(16, 64)] // stays in malloc
    [InlineData(NativeRegion.MapBytes / sizeof(ulong) / 2, NativeRegion.MapBytes / sizeof(ulong) * 4)] // moves from malloc into a reservation
    [InlineData(NativeRegion.MapBytes / sizeof(ulong), 1 << 20)] // grows within its reservation (32 MiB)
    [InlineData(NativeRegion.MapBytes / sizeof(ulong), 1 << 23)] // outgrows it: its pages move to a larger one
    public unsafe void Resize_KeepsTheSlotsItHad_AddsZeroOnes_AndGivesTheRestBack(int length, int longer)
    {
        using var slots = new SlotArray(length);
        static ulong Word(int i) => ((ulong)i * 0x9E3779B97F4A7C15UL) | 1;
        for (int i = 0; i < length; i++)
        {
            slots[i] = Word(i);
        }

        slots.Resize(longer);
        Assert.Equal(longer, slots.Length);
        Assert.Equal(longer * 8L, slots.Bytes);
        Assert.Equal(NativePages.Available && longer * 8L >= NativeRegion.MapBytes, slots.IsMapped);
        for (int i = 0; i < longer; i++)
        {
            Assert.Equal(i < length ? Word(i) : 0UL, slots[i]);
        }

        slots[longer - 1] = 5;
        slots.Resize(longer / 2);
        Assert.Equal(longer / 2, slots.Length);
        Assert.Equal(Word(0), slots[0]);
        Assert.Equal(Word(length - 1), slots[length - 1]);

        // What was cut off reads as zero when the array grows back over it.
        slots.Resize(longer);
        Assert.Equal(0UL, slots[longer - 1]);

        // Shrunk below a huge page, the array goes back to malloc with its first slots.
        slots.Resize(16);
        Assert.False(slots.IsMapped);
        Assert.Equal(Word(15), slots[15]);
    }

    [Theory]
    [InlineData(NativePages.HugePageBytes / sizeof(ulong))]
    [InlineData(1 << 22)] // 32 MiB, as each shard's target slots on the pmacctd comparison capture
    public unsafe void LargeArray_OnLinux_StartsOnA2MiBBoundaryAndAsksForHugePages(int length)
    {
        if (!NativePages.Available)
        {
            return; // mapped (and advised) only on Linux x86-64 and arm64
        }

        using var slots = new SlotArray(length);
        ulong start = (ulong)slots.AddressOf(0);
        Assert.Equal(0UL, start % NativePages.HugePageBytes);

        // Both ends survive the trimming of the over-sized mapping (a trimmed end would fault).
        slots[0] = 1;
        slots[slots.Mask] = 2;
        Assert.Equal(3UL, slots[0] + slots[slots.Mask]);

        // The mapping that holds the array (the kernel may have merged it with a neighbour
        // that has the same flags) carries the advice: "hg" among its VmFlags.
        string? flagLine = Mappings.Field(start, (ulong)slots.Bytes, "VmFlags:");
        Assert.NotNull(flagLine);
        Assert.Contains(" hg", flagLine);
    }

    [Fact]
    public unsafe void NativeRegion_OnLinux_OpensHugePagesOnA2MiBBoundaryAndGivesThemBack()
    {
        if (!NativePages.Available)
        {
            return; // reserved and advised only on Linux x86-64 and arm64
        }

        using var region = new NativeRegion(1L << 30);
        Assert.Equal(0L, region.OpenBytes);
        region.Open((5 << 20) + 1);
        Assert.Equal(6L << 20, region.OpenBytes);
        Assert.True(region.IsMapped);
        byte* start = region.Base;
        Assert.Equal(0UL, (ulong)start % NativePages.HugePageBytes);

        // The whole open part is writable, and it keeps what was written when more is opened;
        // within its reservation (8 x 8 MiB here) the block stays where it is.
        region.Base[0] = 7;
        region.Base[region.OpenBytes - 1] = 8;
        region.Open(64L << 20);
        Assert.Equal(64L << 20, region.OpenBytes);
        Assert.True(start == region.Base);
        Assert.Equal(15, region.Base[0] + region.Base[(6 << 20) - 1]);
        region.Base[region.OpenBytes - 1] = 9;

        string? flagLine = Mappings.Field((ulong)start, (ulong)region.OpenBytes, "VmFlags:");
        Assert.NotNull(flagLine);
        Assert.Contains(" hg", flagLine);

        // Shrinking gives back all past the kept part, which reads as zero when opened again.
        region.Shrink(3 << 20);
        Assert.Equal(4L << 20, region.OpenBytes);
        region.Open(64L << 20);
        Assert.Equal(0, region.Base[region.OpenBytes - 1]);

        // Below a huge page the block goes back to malloc, keeping what it holds; small sizes are powers of two.
        region.Shrink(3000);
        Assert.False(region.IsMapped);
        Assert.Equal(4096L, region.OpenBytes);
        Assert.Equal(7, region.Base[0]);
    }

    [Fact]
    public unsafe void NativeRegion_OutgrowingItsReservation_MovesItsPagesInOneMapping()
    {
        if (!NativePages.Available)
        {
            return; // reserved only on Linux x86-64 and arm64
        }

        using var region = new NativeRegion(1L << 34);
        region.Open(2 << 20); // a reservation of 32 MiB
        for (long size = 2 << 20; size <= 1L << 30; size *= 2)
        {
            region.Open(size);
            region.Base[size - 1] = (byte)(size >> 20);
            region.Base[size / 2] = 1;
        }

        // 1 GiB is in the third reservation (32 MiB, 512 MiB, 8 GiB): the block moved twice, and
        // kept every byte written on the way, in one mapping with the huge page advice. Moved by
        // mremap, only the pages written are resident (two huge pages a step at most); a copy
        // would have read and written every page of the 512 MiB it moved.
        for (long size = 2 << 20; size <= 1L << 30; size *= 2)
        {
            Assert.Equal((byte)(size >> 20), region.Base[size - 1]);
            Assert.Equal(1, region.Base[size / 2]);
        }

        Assert.Equal(0UL, (ulong)region.Base % NativePages.HugePageBytes);
        Assert.Equal(1, Mappings.Overlapping((ulong)region.Base, (ulong)region.OpenBytes));
        Assert.Contains(" hg", Mappings.Field((ulong)region.Base, (ulong)region.OpenBytes, "VmFlags:"));
        string rss = Mappings.Field((ulong)region.Base, (ulong)region.OpenBytes, "Rss:")!;
        Assert.InRange(long.Parse(rss["Rss:".Length..^"kB".Length].Trim()), 0, 128 << 10);
    }

    [Fact]
    public unsafe void NativeRegion_WhenTheReservationWantedDoesNotFit_HalvesItUntilItDoes()
    {
        if (!NativePages.Available || NativePages.StrictOvercommit)
        {
            return; // opening 32 TiB only works where untouched pages are not charged
        }

        // 32 TiB wants a reservation of all of the 128 TiB user address space, which cannot be
        // had; half of it can. Untouched, the pages cost nothing.
        using var region = new NativeRegion(1L << 47);
        region.Open(1L << 45);
        Assert.Equal(1L << 45, region.OpenBytes);
        region.Base[(1L << 45) - 1] = 9;
        Assert.Equal(9, region.Base[(1L << 45) - 1]);
    }

    [Fact]
    public unsafe void NativeRegion_FarLargerThanTheAddressSpace_ReservesOnlyRoomToGrow()
    {
        if (!NativePages.Available)
        {
            return; // reserved only on Linux x86-64 and arm64
        }

        // 2^48 bytes is more than a 47-bit user address space: a reservation of all the block
        // could ever need would not fit. It reserves a few times what it holds instead: 32 MiB,
        // the unopened rest of which is the closed mapping right after the open part.
        using var region = new NativeRegion(1L << 48);
        region.Open(3 << 20);
        region.Base[(3 << 20) - 1] = 5;
        Assert.Equal(5, region.Base[(3 << 20) - 1]);
        Assert.Equal(4L << 20, region.OpenBytes);
        ulong end = (ulong)region.Base + (ulong)region.OpenBytes;
        (ulong from, ulong to) = Mappings.Ranges().Single(range => range.From <= end && range.To > end);
        Assert.Equal(end, from);
        Assert.Equal((ulong)region.Base + (32UL << 20), to);
    }

    [Fact]
    public void KeyTable_Growing_KeepsItsEntriesOffTheGcHeap()
    {
        using var table = new KeyTable<PortKey, PortStats>();
        static PortKey Key(int i) => new((byte)(i >> 16), TrafficClass.TcpSyn, (ushort)i);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000_000; i++)
        {
            table.GetValueRefOrAddDefault(Key(i), out _).Packets++;
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // A million entries grow in native memory, and the slot array doubles in place (17
        // times); growing allocates nothing on the GC heap.
        Assert.InRange(allocated, 0, 256);
        Assert.Equal(1_000_000, table.Count);
        Assert.True(table.TryGetValue(Key(999_999), out PortStats last));
        Assert.Equal(1UL, last.Packets);
    }

    [Fact]
    public void KeyTable_GrownPastMappedSizesThenDisposed_KeepsEveryKeyThenRefusesUse()
    {
        // From 16 malloc'd slots to 2^19 (4 MiB) in a reservation, and the entries likewise from
        // malloc into one: each growth rehashes the entries into the doubled array.
        var table = new KeyTable<PortKey, PortStats>();
        static PortKey Key(int i) => new((byte)(i >> 16), TrafficClass.TcpSyn, (ushort)i);
        for (int i = 0; i < 250_000; i++)
        {
            table.GetValueRefOrAddDefault(Key(i), out _).Packets += (ulong)i + 1;
        }

        long entryBytes = 250_000L * 28; // at least, one PortKey + PortStats each
        Assert.True(table.CapacityBytes - entryBytes >= (1 << 19) * sizeof(ulong), $"{table.CapacityBytes} bytes");
        Assert.True(table.Growths > 10, $"{table.Growths} growths");
        for (int i = 0; i < 250_000; i++)
        {
            Assert.True(table.TryGetValue(Key(i), out PortStats stats), $"key {i}");
            Assert.Equal((ulong)i + 1, stats.Packets);
        }

        table.Dispose();
        Assert.Throws<NullReferenceException>(() => table.CapacityBytes);
    }
}
