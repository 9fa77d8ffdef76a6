using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;

namespace Telemetry.Core.Tests.Aggregation;

public class KeyTableTests
{
    private static AddressPortKey Key(uint address, ushort port) => new(IpAddr.FromV4(address), new PortKey(6, TrafficClass.TcpSyn, port));

    [Fact]
    public void GetValueRefOrAddDefault_MillionKeysWithRepeats_MatchesDictionary()
    {
        var random = new Random(5);
        var table = new KeyTable<AddressPortKey, TargetStats>();
        var truth = new Dictionary<AddressPortKey, ulong>();
        for (int i = 0; i < 1_500_000; i++)
        {
            // Addresses in a /12 and 3 ports: about a million distinct keys, most seen more than once.
            AddressPortKey key = Key(0x0A000000u + (uint)random.Next(1 << 20), (ushort)(22 + random.Next(3)));
            ref TargetStats stats = ref table.GetValueRefOrAddDefault(key, out bool exists);
            Assert.Equal(truth.ContainsKey(key), exists);
            stats.Packets++;
            truth[key] = truth.GetValueOrDefault(key) + 1;
        }

        Assert.Equal(truth.Count, table.Count);
        foreach ((AddressPortKey key, ulong packets) in truth)
        {
            Assert.True(table.TryGetValue(key, out TargetStats stats));
            Assert.Equal(packets, stats.Packets);
        }

        Assert.False(table.ContainsKey(Key(0x0B000000u, 22)));
        Assert.Equal(truth.Keys.ToHashSet(), table.Keys.ToHashSet());
    }

    [Fact]
    public void Entries_AreInInsertionOrder_AndClearEmptiesTheTable()
    {
        var table = new KeyTable<PortKey, PortStats>();
        ushort[] ports = [443, 23, 80, 23, 8080, 443];
        foreach (ushort port in ports)
        {
            table.GetValueRefOrAddDefault(new PortKey(6, TrafficClass.TcpSyn, port), out _).Packets++;
        }

        Assert.Equal(new ushort[] { 443, 23, 80, 8080 }, table.Select(pair => pair.Key.Port));
        Assert.Equal(new ulong[] { 2, 2, 1, 1 }, table.Values.Select(v => v.Packets));

        table.Clear();
        Assert.Equal(0, table.Count);
        Assert.Empty(table.Entries.ToArray());
        ref PortStats again = ref table.GetValueRefOrAddDefault(new PortKey(6, TrafficClass.TcpSyn, 443), out bool exists);
        Assert.False(exists);
        Assert.Equal(0UL, again.Packets);
    }

    [Fact]
    public void Clear_KeepsRoomForAFullWindow_ButShrinksAfterEightSmallOnes()
    {
        var table = new KeyTable<AddressPortKey, SourceStats>();
        void Fill(int keys)
        {
            for (int i = 0; i < keys; i++)
            {
                table.GetValueRefOrAddDefault(Key((uint)i, 23), out _).Packets++;
            }
        }

        Fill(200_000);
        long full = table.CapacityBytes;
        table.Clear();
        Assert.Equal(full, table.CapacityBytes);

        // Seven small windows then a full one: the room is kept.
        for (int window = 0; window < 7; window++)
        {
            Fill(10);
            table.Clear();
        }

        Fill(200_000);
        table.Clear();
        Assert.Equal(full, table.CapacityBytes);

        // Eight small windows in a row: it gives half back.
        for (int window = 0; window < 8; window++)
        {
            Fill(10);
            table.Clear();
        }

        Assert.Equal(full / 2, table.CapacityBytes);
        Fill(1000);
        Assert.Equal(1000, table.Count);
        Assert.True(table.TryGetValue(Key(999, 23), out SourceStats last));
        Assert.Equal(1UL, last.Packets);
    }
}

public class FingerprintSetTests
{
    [Fact]
    public void Add_TrueOnlyTheFirstTime_ForMillionsOfFingerprintsAndZero()
    {
        var random = new Random(9);
        var set = new FingerprintSet();
        var truth = new HashSet<ulong>();
        for (int i = 0; i < 3_000_000; i++)
        {
            // Draw from 2^21 values so about three in four repeat; 0 is one of them.
            ulong value = IpAddr.Mix((ulong)random.Next(1 << 21));
            if (i % 1000 == 0)
            {
                value = 0;
            }

            Assert.Equal(truth.Add(value), set.Add(value));
        }

        Assert.Equal(truth.Count, set.Count);
        Assert.False(set.Add(0));
    }

    [Fact]
    public void Clear_EmptiesTheSet_AndShrinksOnlyAfterEightSmallWindows()
    {
        var set = new FingerprintSet();
        for (ulong i = 1; i <= 500_000; i++)
        {
            set.Add(IpAddr.Mix(i));
        }

        long full = set.CapacityBytes;
        set.Clear();
        Assert.Equal(0, set.Count);
        Assert.Equal(full, set.CapacityBytes);
        Assert.True(set.Add(IpAddr.Mix(1)));

        for (int window = 0; window < 8; window++)
        {
            set.Clear();
            set.Add(IpAddr.Mix(1));
        }

        Assert.Equal(full / 2, set.CapacityBytes);
        Assert.False(set.Add(IpAddr.Mix(1)));
    }
}
