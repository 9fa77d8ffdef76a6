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
    public void KeyTable_GrownPastMappedSizesThenDisposed_RefusesUseInsteadOfReadingFreedMemory()
    {
        // A table grows from malloc'd slots through mapped ones; each growth frees the array before.
        var table = new KeyTable<PortKey, PortStats>();
        for (int i = 0; i < 60_000; i++)
        {
            table.GetValueRefOrAddDefault(new PortKey((byte)(i >> 16), TrafficClass.TcpSyn, (ushort)i), out _).Packets++;
        }

        Assert.True(table.CapacityBytes >= SlotArray.MapBytes);
        Assert.Equal(60_000, table.Count);
        table.Dispose();
        Assert.Throws<NullReferenceException>(() => table.CapacityBytes);
    }
}
