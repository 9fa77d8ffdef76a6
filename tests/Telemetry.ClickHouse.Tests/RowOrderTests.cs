using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;

namespace Telemetry.ClickHouse.Tests;

public class RowOrderTests
{
    /// <summary>
    /// The order must be ClickHouse's: the 16 address bytes, then proto, dst_port and the class
    /// as a string. IPv6 addresses fall on both sides of the IPv4-mapped range (::1 below it,
    /// 2001:db8:: above), and class names sort differently from class numbers.
    /// </summary>
    [Fact]
    public void Sort_MixedFamiliesPortsAndClasses_MatchesTheTableSortingKey()
    {
        var table = new AddressTable<TargetStats>();
        var random = new Random(3);
        TrafficClass[] classes = Enum.GetValues<TrafficClass>();
        for (int i = 0; i < 20_000; i++)
        {
            IpAddr address = random.Next(10) switch
            {
                0 => IpAddr.Parse($"2001:db8::{random.Next(50):x}"),
                1 => IpAddr.Parse($"::{random.Next(1, 50):x}"),
                _ => IpAddr.FromV4((uint)random.Next() | (random.Next(2) == 0 ? 0x8000_0000u : 0)),
            };
            var port = new PortKey((byte)(random.Next(2) == 0 ? 6 : 17), classes[random.Next(classes.Length)], (ushort)random.Next(3, 70000));
            table.GetValueRefOrAddDefault(address, port, out _).Packets++;
        }

        int[] order = new RowOrder().Sort(table);

        List<AddressPortKey> written = [.. order.Take(table.Count).Select(i => table.KeyOf(table.Stored.EntryAt(i).Key))];
        List<AddressPortKey> expected = [.. written.Order(Comparer<AddressPortKey>.Create(ClickHouseOrder))];
        Assert.Equal(table.Count, written.Distinct().Count());
        Assert.Contains(written, k => !k.Address.IsV4 && k.Address.Hi == 0);
        Assert.Equal(expected, written);
    }

    /// <summary>
    /// A small darknet with many ports per address: the keys share their high bits, and the
    /// buckets of the first digit are large enough to be split again by the next ones.
    /// </summary>
    [Fact]
    public void Sort_FewAddressesManyPorts_SplitsBucketsAgainAndStillMatches()
    {
        var table = new AddressTable<TargetStats>();
        var random = new Random(5);
        TrafficClass[] classes = Enum.GetValues<TrafficClass>();
        while (table.Count < 150_000)
        {
            var address = IpAddr.FromV4(0xC6120010u + (uint)random.Next(8));
            var port = new PortKey(6, classes[random.Next(classes.Length)], (ushort)random.Next(65536));
            table.GetValueRefOrAddDefault(address, port, out _).Packets++;
        }

        int[] order = new RowOrder().Sort(table);

        List<AddressPortKey> written = [.. order.Take(table.Count).Select(i => table.KeyOf(table.Stored.EntryAt(i).Key))];
        Assert.Equal(table.Count, written.Distinct().Count());
        Assert.Equal([.. written.Order(Comparer<AddressPortKey>.Create(ClickHouseOrder))], written);
    }

    [Fact]
    public void Sort_AgainOnAnIpv4Table_AllocatesNothing()
    {
        var order = new RowOrder();
        var big = new AddressTable<SourceStats>();
        var small = new AddressTable<SourceStats>();
        var port = new PortKey(6, TrafficClass.TcpSyn, 23);
        // Large enough for radix passes (over 4,096 rows), not only the introsort of small ranges.
        for (uint i = 0; i < 20_000; i++)
        {
            big.GetValueRefOrAddDefault(IpAddr.FromV4(50_000 - i), port, out _);
        }

        small.GetValueRefOrAddDefault(IpAddr.FromV4(9), port, out _);
        small.GetValueRefOrAddDefault(IpAddr.FromV4(2), port, out _);

        order.Sort(big);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int first = order.Sort(big)[0];
        int[] second = order.Sort(small);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(big.Count - 1, first);
        Assert.Equal([1, 0], second.Take(2));
    }

    /// <summary>IPv6 rows (::1 below the IPv4-mapped range, 2001:db8:: above) are sorted apart, in arrays kept from flush to flush too.</summary>
    [Fact]
    public void Sort_AgainOnAMixedTable_AllocatesNothingAndPlacesIpv6OnBothSides()
    {
        var order = new RowOrder();
        var table = new AddressTable<TargetStats>();
        var port = new PortKey(17, TrafficClass.Udp, 53);
        for (uint i = 0; i < 300; i++)
        {
            table.GetValueRefOrAddDefault(IpAddr.FromV4(0xC6120000u + i), port, out _);
            table.GetValueRefOrAddDefault(IpAddr.Parse($"2001:db8::{300 - i:x}"), port, out _);
        }

        table.GetValueRefOrAddDefault(IpAddr.Parse("::1"), port, out _);

        order.Sort(table);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int[] again = order.Sort(table);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        List<AddressPortKey> written = [.. again.Take(table.Count).Select(i => table.KeyOf(table.Stored.EntryAt(i).Key))];
        Assert.Equal(0, allocated);
        Assert.Equal(IpAddr.Parse("::1"), written[0].Address);
        Assert.Equal(IpAddr.FromV4(0xC6120000u), written[1].Address);
        Assert.Equal(IpAddr.Parse("2001:db8::1"), written[301].Address);
        Assert.Equal([.. written.Order(Comparer<AddressPortKey>.Create(ClickHouseOrder))], written);
    }

    private static int ClickHouseOrder(AddressPortKey a, AddressPortKey b)
    {
        byte[] x = new byte[16], y = new byte[16];
        a.Address.WriteBytes(x);
        b.Address.WriteBytes(y);
        int c = x.AsSpan().SequenceCompareTo(y);
        if (c != 0)
        {
            return c;
        }

        c = a.Port.Protocol.CompareTo(b.Port.Protocol);
        if (c != 0)
        {
            return c;
        }

        c = a.Port.Port.CompareTo(b.Port.Port);
        return c != 0 ? c : string.CompareOrdinal(a.Port.Class.Name(), b.Port.Class.Name());
    }
}
