using Telemetry.Core.Aggregation;
using Telemetry.Core.Net;
using Telemetry.Core.Tests.HotPath;
using Telemetry.Core.Tests.Support;

namespace Telemetry.Core.Tests.Aggregation;

// Counts the process's mappings and makes the kernel's moves fail, so it runs with no other test beside it.
[Collection(nameof(AllocationTestGroup))]
public class AddressSpaceTests
{
    [Fact]
    public void ThousandsOfWindowTables_FitTheAddressSpaceAndTheKernelsMappingLimit()
    {
        // Each sensor's open window on each shard holds a table set. With a reservation of all a
        // table could ever need (32 GB of entries each), about 1,250 sets filled a 47-bit address
        // space and the next insert threw; each also took kernel mappings, which are limited to
        // 65,530 per process. Small tables now live in malloc.
        const int Sets = 5000;
        int mappingsBefore = NativePages.Available ? Mappings.Ranges().Count() : 0;
        var sets = new List<WindowTables>(Sets);
        try
        {
            for (int i = 0; i < Sets; i++)
            {
                var tables = new WindowTables(i, 0);
                tables.Add(new RollupInput
                {
                    TimestampNs = 1,
                    Source = IpAddr.FromV4(0x0A00_0001u + (uint)i),
                    Destination = IpAddr.Parse("2001:db8::1"),
                    IpBytes = 60,
                    Port = 23,
                    Protocol = 6,
                });
                sets.Add(tables);
            }

            Assert.All(sets, tables => Assert.Equal(3, tables.KeyCount));
            if (NativePages.Available)
            {
                int added = Mappings.Ranges().Count() - mappingsBefore;
                Assert.True(added < Sets / 10, $"{added} mappings for {Sets} table sets");
            }
        }
        finally
        {
            sets.ForEach(tables => tables.Dispose());
        }
    }

    [Fact]
    public unsafe void NativeRegion_WhoseMoveTheKernelRefuses_IsCopiedWhole()
    {
        if (!NativePages.Available)
        {
            return; // reserved only on Linux x86-64 and arm64
        }

        using var region = new NativeRegion(1L << 34);

        // A 2 MiB block reserves the minimum, 32 MiB (eight times 2 MiB is less), which 32 MiB
        // then fills; opening it from empty would have reserved eight times 32 MiB.
        region.Open(2L << 20);
        region.Open(32L << 20);
        region.Base[0] = 3;
        region.Base[(32 << 20) - 1] = 4;
        byte* before = region.Base;
        NativePages.RefuseMoves = true;
        try
        {
            region.Open(64L << 20);
        }
        finally
        {
            NativePages.RefuseMoves = false;
        }

        Assert.NotEqual((nint)before, (nint)region.Base); // outgrew its reservation: moved (here, copied)
        Assert.Equal(64L << 20, region.OpenBytes);
        Assert.Equal(7, region.Base[0] + region.Base[(32 << 20) - 1]);
        Assert.Equal(0, region.Base[region.OpenBytes - 1]);
        region.Base[region.OpenBytes - 1] = 6;
        Assert.Equal(1, Mappings.Overlapping((ulong)region.Base, (ulong)region.OpenBytes));

        // The copy then grows, and moves, like any other block.
        region.Open(1L << 30);
        Assert.Equal(6, region.Base[(64 << 20) - 1]);
    }
}
