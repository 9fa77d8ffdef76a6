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
    [InlineData(SlotArray.HugePageBytes / sizeof(ulong))]
    [InlineData(1 << 22)] // 32 MiB, as each shard's target slots on the pmacctd comparison capture
    public unsafe void LargeArray_OnLinux_StartsOnA2MiBBoundaryAndAsksForHugePages(int length)
    {
        if (!OperatingSystem.IsLinux() || !(System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture
            is System.Runtime.InteropServices.Architecture.X64 or System.Runtime.InteropServices.Architecture.Arm64))
        {
            return; // mapped (and advised) only on Linux x86-64 and arm64
        }

        using var slots = new SlotArray(length);
        ulong start = (ulong)slots.AddressOf(0);
        Assert.Equal(0UL, start % SlotArray.HugePageBytes);

        // Both ends survive the trimming of the over-sized mapping (a trimmed end would fault).
        slots[0] = 1;
        slots[slots.Mask] = 2;
        Assert.Equal(3UL, slots[0] + slots[slots.Mask]);

        // The mapping that holds the array (the kernel may have merged it with a neighbour
        // that has the same flags) carries the advice: "hg" among its VmFlags.
        string? flagLine = null;
        string[] lines = File.ReadAllLines("/proc/self/smaps");
        for (int i = 0; i < lines.Length && flagLine is null; i++)
        {
            int dash = lines[i].IndexOf('-');
            int space = lines[i].IndexOf(' ');
            if (dash <= 0 || space < dash
                || !ulong.TryParse(lines[i].AsSpan(0, dash), System.Globalization.NumberStyles.HexNumber, null, out ulong from)
                || !ulong.TryParse(lines[i].AsSpan(dash + 1, space - dash - 1), System.Globalization.NumberStyles.HexNumber, null, out ulong to)
                || from > start || to < start + (ulong)slots.Bytes)
            {
                continue;
            }

            flagLine = lines.Skip(i + 1).First(line => line.StartsWith("VmFlags:", StringComparison.Ordinal));
        }

        Assert.NotNull(flagLine);
        Assert.Contains(" hg", flagLine);
    }

    [Fact]
    public void KeyTable_GrownPastMappedSizesThenDisposed_KeepsEveryKeyThenRefusesUse()
    {
        // From 16 malloc'd slots to 2^17 mapped ones: each growth rehashes into a new array and frees the old.
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
