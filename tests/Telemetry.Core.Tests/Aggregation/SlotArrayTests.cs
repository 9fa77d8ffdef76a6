using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;

namespace Telemetry.Core.Tests.Aggregation;

public class SlotArrayTests
{
    [Theory]
    [InlineData(16)] // from malloc
    [InlineData(SlotArray.MapBytes / sizeof(ulong))] // the smallest mapped from the kernel on Linux
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
    [InlineData(SlotArray.MapBytes / sizeof(ulong) / 2, SlotArray.MapBytes / sizeof(ulong) * 4)] // moves from malloc into a reservation
    [InlineData(SlotArray.MapBytes / sizeof(ulong), 1 << 20)] // grows within its reservation
    public unsafe void Resize_KeepsTheSlotsItHad_AddsZeroOnes_AndGivesTheRestBack(int length, int longer)
    {
        using var slots = new SlotArray(length);
        static ulong Word(int i) => ((ulong)i * 0x9E3779B97F4A7C15UL) | 1;
        for (int i = 0; i < length; i++)
        {
            slots[i] = Word(i);
        }

        nint before = (nint)slots.AddressOf(0);
        slots.Resize(longer);
        Assert.Equal(longer, slots.Length);
        Assert.Equal(longer * 8L, slots.Bytes);
        for (int i = 0; i < longer; i++)
        {
            Assert.Equal(i < length ? Word(i) : 0UL, slots[i]);
        }

        if (NativePages.Available && length * sizeof(ulong) >= SlotArray.MapBytes)
        {
            // In its reservation the array grows where it is: nothing is copied.
            Assert.Equal(before, (nint)slots.AddressOf(0));
        }

        slots[longer - 1] = 5;
        slots.Resize(longer / 2);
        Assert.Equal(longer / 2, slots.Length);
        Assert.Equal(Word(0), slots[0]);
        Assert.Equal(Word(length - 1), slots[length - 1]);

        // What was cut off reads as zero when the array grows back over it.
        slots.Resize(longer);
        Assert.Equal(0UL, slots[longer - 1]);
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
        string? flagLine = MappingFlags(start, (ulong)slots.Bytes);
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
        ulong start = (ulong)region.Base;
        Assert.Equal(0UL, start % NativePages.HugePageBytes);

        // The whole open part is writable, and it keeps what was written when more is opened.
        region.Base[0] = 7;
        region.Base[region.OpenBytes - 1] = 8;
        region.Open(100L << 20);
        Assert.Equal(100L << 20, region.OpenBytes);
        Assert.Equal(15, region.Base[0] + region.Base[(6 << 20) - 1]);
        region.Base[region.OpenBytes - 1] = 9;

        string? flagLine = MappingFlags(start, (ulong)region.OpenBytes);
        Assert.NotNull(flagLine);
        Assert.Contains(" hg", flagLine);

        // Small sizes open powers of two; shrinking gives back all past the kept part.
        region.Shrink(3000);
        Assert.Equal(4096L, region.OpenBytes);
        Assert.Equal(7, region.Base[0]);
    }

    [Fact]
    public unsafe void NativeRegion_MoreThanTheAddressSpaceHolds_ReservesLessAndWorks()
    {
        // 2^48 bytes is more than a 47-bit user address space: the kernel refuses that
        // reservation, and the region falls back to the largest half it can have.
        using var region = new NativeRegion(1L << 48);
        region.Open(3 << 20);
        region.Base[(3 << 20) - 1] = 5;
        Assert.Equal(5, region.Base[(3 << 20) - 1]);
        Assert.Equal(4L << 20, region.OpenBytes);
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
        // times); the GC heap sees only the reservation object the slots move into at 64 KiB.
        Assert.InRange(allocated, 0, 256);
        Assert.Equal(1_000_000, table.Count);
        Assert.True(table.TryGetValue(Key(999_999), out PortStats last));
        Assert.Equal(1UL, last.Packets);
    }

    // The VmFlags line of the mapping in /proc/self/smaps that holds [start, start + bytes), or null.
    private static string? MappingFlags(ulong start, ulong bytes)
    {
        string[] lines = File.ReadAllLines("/proc/self/smaps");
        for (int i = 0; i < lines.Length; i++)
        {
            int dash = lines[i].IndexOf('-');
            int space = lines[i].IndexOf(' ');
            if (dash <= 0 || space < dash
                || !ulong.TryParse(lines[i].AsSpan(0, dash), System.Globalization.NumberStyles.HexNumber, null, out ulong from)
                || !ulong.TryParse(lines[i].AsSpan(dash + 1, space - dash - 1), System.Globalization.NumberStyles.HexNumber, null, out ulong to)
                || from > start || to < start + bytes)
            {
                continue;
            }

            return lines.Skip(i + 1).First(line => line.StartsWith("VmFlags:", StringComparison.Ordinal));
        }

        return null;
    }

    [Fact]
    public void KeyTable_GrownPastMappedSizesThenDisposed_KeepsEveryKeyThenRefusesUse()
    {
        // From 16 malloc'd slots to 2^17 in a reservation: each growth rehashes the entries into the doubled array.
        var table = new KeyTable<PortKey, PortStats>();
        static PortKey Key(int i) => new((byte)(i >> 16), TrafficClass.TcpSyn, (ushort)i);
        for (int i = 0; i < 60_000; i++)
        {
            table.GetValueRefOrAddDefault(Key(i), out _).Packets += (ulong)i + 1;
        }

        long entryBytes = 60_000L * 28; // at least, one PortKey + PortStats each
        Assert.True(table.CapacityBytes - entryBytes >= (1 << 17) * sizeof(ulong), $"{table.CapacityBytes} bytes");
        Assert.True(table.Growths > 10, $"{table.Growths} growths");
        for (int i = 0; i < 60_000; i++)
        {
            Assert.True(table.TryGetValue(Key(i), out PortStats stats), $"key {i}");
            Assert.Equal((ulong)i + 1, stats.Packets);
        }

        table.Dispose();
        Assert.Throws<NullReferenceException>(() => table.CapacityBytes);
    }
}
