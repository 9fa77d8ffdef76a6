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
