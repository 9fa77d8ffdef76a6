using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;

namespace Telemetry.Core.Tests.Aggregation;

public class AddressTableTests
{
    private static readonly PortKey Telnet = new(6, TrafficClass.TcpSyn, 23);
    private static readonly PortKey Dns = new(17, TrafficClass.Udp, 53);

    [Fact]
    public void MixedFamilies_EachKeyKeepsItsOwnRow_AndReadsBackAsAddressAndPort()
    {
        var table = new AddressTable<SourceStats>();
        var truth = new Dictionary<AddressPortKey, ulong>();
        var random = new Random(11);
        for (int i = 0; i < 50_000; i++)
        {
            // Few distinct IPv6 addresses over many ports, and IPv4 addresses whose value equals
            // an IPv6 address's index: neither may be mistaken for the other.
            IpAddr address = random.Next(3) == 0
                ? IpAddr.Parse($"2001:db8::{random.Next(300):x}")
                : IpAddr.FromV4((uint)random.Next(400));
            PortKey port = random.Next(2) == 0 ? Telnet : new PortKey(17, TrafficClass.Udp, (ushort)random.Next(50));
            table.GetValueRefOrAddDefault(address, port, out _).Packets++;
            var key = new AddressPortKey(address, port);
            truth[key] = truth.GetValueOrDefault(key) + 1;
        }

        Assert.Equal(truth.Count, table.Count);
        Assert.Equal(truth.OrderBy(p => p.Key.ToString(), StringComparer.Ordinal).Select(p => (p.Key, p.Value)),
            table.OrderBy(p => p.Key.ToString(), StringComparer.Ordinal).Select(p => (p.Key, p.Value.Packets)));
        foreach ((AddressPortKey key, ulong packets) in truth)
        {
            Assert.Equal(packets, table[key].Packets);
        }

        for (int i = 0; i < table.Count; i++)
        {
            ref TableEntry<CompactAddressKey, SourceStats> entry = ref table.Stored.EntryAt(i);
            AddressPortKey key = table.KeyOf(entry.Key);
            Assert.Equal(truth[key], entry.Value.Packets);
            Assert.Equal(!key.Address.IsV4, entry.Key.IsV6);
        }
    }

    [Fact]
    public void Lookups_OfAbsentKeys_AddNothing()
    {
        var table = new AddressTable<TargetStats>();
        table.GetValueRefOrAddDefault(IpAddr.Parse("2001:db8::1"), Telnet, out bool exists).Packets = 4;
        Assert.False(exists);

        Assert.False(table.ContainsKey(new AddressPortKey(IpAddr.Parse("2001:db8::2"), Telnet)));
        Assert.False(table.ContainsKey(new AddressPortKey(IpAddr.Parse("2001:db8::1"), Dns)));
        Assert.False(table.ContainsKey(new AddressPortKey(IpAddr.FromV4(0), Telnet)));
        Assert.True(table.ContainsKey(new AddressPortKey(IpAddr.Parse("2001:db8::1"), Telnet)));
        Assert.Equal(1, table.Count);

        table.GetValueRefOrAddDefault(IpAddr.Parse("2001:db8::2"), Telnet, out _);
        Assert.Equal(IpAddr.Parse("2001:db8::2"), table.AddressOf(table.Stored.EntryAt(1).Key));
    }

    [Fact]
    public void Clear_ForgetsIpv6Addresses()
    {
        var table = new AddressTable<TargetStats>();
        table.GetValueRefOrAddDefault(IpAddr.Parse("2001:db8::1"), Telnet, out _);
        table.Clear();
        table.GetValueRefOrAddDefault(IpAddr.Parse("2001:db8::9"), Dns, out bool exists);

        Assert.False(exists);
        Assert.Equal(new AddressPortKey(IpAddr.Parse("2001:db8::9"), Dns), Assert.Single(table).Key);
    }

    [Fact]
    public void Reserve_SizesTheIpv6SideTableToo_SoAWindowLikeTheLastNeverGrows()
    {
        var last = new AddressTable<SourceStats>();
        for (int i = 0; i < 5000; i++)
        {
            last.GetValueRefOrAddDefault(IpAddr.Parse($"2001:db8::{i:x}"), Telnet, out _).Packets++;
            last.GetValueRefOrAddDefault(IpAddr.FromV4((uint)i), Dns, out _).Packets++;
        }

        Assert.Equal(5000, last.V6Addresses);
        Assert.True(last.Growths > 0);

        var next = new AddressTable<SourceStats>();
        next.Reserve(last.Count, last.V6Addresses);
        for (int i = 0; i < 5000; i++)
        {
            next.GetValueRefOrAddDefault(IpAddr.Parse($"2001:db8::{i + 7:x}"), Dns, out _).Packets++;
            next.GetValueRefOrAddDefault(IpAddr.FromV4((uint)i + 7), Telnet, out _).Packets++;
        }

        Assert.Equal(10_000, next.Count);
        Assert.Equal(0, next.Growths);
        Assert.Equal(1UL, next[new AddressPortKey(IpAddr.Parse("2001:db8::7"), Dns)].Packets);
    }
}
