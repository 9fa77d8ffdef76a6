using System.Runtime.CompilerServices;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;

namespace Telemetry.Core.Tests.Aggregation;

public class KeyTableTests
{
    private static AddressPortKey Key(uint address, ushort port) => new(IpAddr.FromV4(address), new PortKey(6, TrafficClass.TcpSyn, port));

    // Entry bytes past 2 MiB, rounded up to whole 2 MiB pages.
    private static long HugePages(long bytes) => (bytes + (2 << 20) - 1) / (2 << 20) * (2 << 20);

    [Fact]
    public void Entries_ArePackedWithoutPadding()
    {
        // Every key's memory is its entry plus 4/3 of an 8-byte slot; padding would be paid millions of times.
        Assert.Equal(40 + 11, new AddressTable<TargetStats>().BytesPerKey);
        Assert.Equal(32 + 11, new AddressTable<SourceStats>().BytesPerKey);
        Assert.Equal(28 + 11, new KeyTable<PortKey, PortStats>().BytesPerKey);
        Assert.Equal(20 + 11, new AddressTable<TargetStats>().V6BytesPerAddress);
    }

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
    public void PrefetchEntry_FindsKeysInTheirHomeLine_AndNeverAbsentOnes()
    {
        var table = new KeyTable<AddressPortKey, TargetStats>();
        for (uint i = 0; i < 100_000; i++)
        {
            table.GetValueRefOrAddDefault(Key(0x0A000000u + i, 23), out _);
        }

        // A key in the table is reported when it sits in the cache line of its home slot, which at
        // this load (100 k keys in 256 k slots) is nearly every key, displaced ones included. One
        // that is not is reported only when its tag matches a stranger's in that line: the tag is
        // the hash's low 32 bits, of which the home takes 18, so about 1 in 2^14 strangers of the
        // same home (a few of these 100 k lookups; every one if tags were not compared).
        int present = 0;
        int strangers = 0;
        for (uint i = 0; i < 100_000; i++)
        {
            present += table.PrefetchEntry(Key(0x0A000000u + i, 23)) ? 1 : 0;
            strangers += table.PrefetchEntry(Key(0x0A000000u + i, 24)) ? 1 : 0;
        }

        Assert.InRange(present, 90_000, 100_000);
        Assert.InRange(strangers, 0, 50);
        table.Clear();
        Assert.False(table.PrefetchEntry(Key(0x0A000000u, 23)));
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
        Assert.Empty(table);
        Assert.Throws<ArgumentOutOfRangeException>(() => table.EntryAt(0));
        ref PortStats again = ref table.GetValueRefOrAddDefault(new PortKey(6, TrafficClass.TcpSyn, 443), out bool exists);
        Assert.False(exists);
        Assert.Equal(0UL, again.Packets);
    }

    [Fact]
    public void RemoveWhere_DropsThoseKeys_KeepsTheRestInOrderAndFindable_WithoutGrowing()
    {
        var table = new KeyTable<AddressPortKey, SourceStats>();
        for (uint i = 0; i < 100_000; i++)
        {
            table.GetValueRefOrAddDefault(Key(i, 23), out _).Packets = i;
        }

        long capacity = table.CapacityBytes;
        table.RemoveWhere(static (_, value) => value.Packets % 3 == 0);

        Assert.Equal(66_666, table.Count);
        Assert.Equal(capacity, table.CapacityBytes);
        Assert.Equal(Enumerable.Range(0, 100_000).Where(i => i % 3 != 0).Select(i => (ulong)i), table.Values.Select(v => v.Packets));
        for (uint i = 0; i < 100_000; i++)
        {
            ref SourceStats found = ref table.GetValueRefOrNullRef(Key(i, 23));
            Assert.Equal(i % 3 != 0, !Unsafe.IsNullRef(ref found));
            Assert.True(Unsafe.IsNullRef(ref found) || found.Packets == i);
        }

        // A removed key is new again; a kept one is still there.
        table.GetValueRefOrAddDefault(Key(3, 23), out bool removedExists);
        table.GetValueRefOrAddDefault(Key(4, 23), out bool keptExists);
        Assert.False(removedExists);
        Assert.True(keptExists);
        Assert.Equal(66_667, table.Count);
    }

    [Fact]
    public void RemoveWhere_EveryKey_LeavesNoSlotBehind_AndTheTableIsReusedAsFull()
    {
        // A merge can take every row out of a partial, which then goes back to the pool.
        var table = new KeyTable<AddressPortKey, SourceStats>();
        for (int window = 0; window < 10; window++)
        {
            for (uint i = 0; i < 100_000; i++)
            {
                ref SourceStats row = ref table.GetValueRefOrAddDefault(Key(i, 23), out bool exists);
                Assert.False(exists);
                row.Packets = 1;
            }

            long capacity = table.CapacityBytes;
            table.RemoveWhere(static (_, _) => true);

            Assert.Equal(0, table.Count);
            Assert.True(Unsafe.IsNullRef(ref table.GetValueRefOrNullRef(Key(5, 23))));
            table.Clear();

            // Ten windows that each held 100,000 keys: none looks idle, so none shrinks the table.
            Assert.Equal(capacity, table.CapacityBytes);
        }
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

        // Slots for 200 k keys at most 3/4 full: 2^19 of 8 bytes; entries: their bytes rounded up
        // to whole 2 MiB pages (the entry region opens huge pages once past one).
        const int entryBytes = 44; // AddressPortKey 20 + SourceStats 24
        Assert.Equal(((1L << 19) * 8) + HugePages(200_000L * entryBytes), full);
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

        // Eight small windows in a row: the slot array halves, and the entry room is cut to what
        // the smaller array can index (3/4 of 2^18 keys); eight more, and both halve again.
        for (int window = 0; window < 8; window++)
        {
            Fill(10);
            table.Clear();
        }

        Assert.Equal(((1L << 18) * 8) + HugePages(3L * (1 << 16) * entryBytes), table.CapacityBytes);
        for (int window = 0; window < 8; window++)
        {
            Fill(10);
            table.Clear();
        }

        Assert.Equal(((1L << 17) * 8) + HugePages(3L * (1 << 15) * entryBytes), table.CapacityBytes);
        Assert.True(HugePages(3L * (1 << 15) * entryBytes) < HugePages(200_000L * entryBytes), "the entry room shrank");
        Fill(1000);
        Assert.Equal(1000, table.Count);
        Assert.True(table.TryGetValue(Key(999, 23), out SourceStats last));
        Assert.Equal(1UL, last.Packets);
    }
}

public class KeyTableCollisionTests
{
    /// <summary>A key whose hash is the same for every value: every probe meets every other key.</summary>
    private readonly record struct SameHash(int Value) : ITableKey<SameHash>
    {
        public ulong Hash => 0xDEAD_BEEF_0000_0001UL;
    }

    [Fact]
    public void AllKeysOnOneHash_StillFoundAndAdded_AndClearFreesEverySlot()
    {
        var table = new KeyTable<SameHash, SourceStats>();
        for (int i = 0; i < 2000; i++)
        {
            table.GetValueRefOrAddDefault(new SameHash(i), out bool exists).Packets += (ulong)i;
            Assert.False(exists);
        }

        Assert.Equal(2000, table.Count);
        Assert.True(table.TryGetValue(new SameHash(1999), out SourceStats last));
        Assert.Equal(1999UL, last.Packets);
        Assert.False(table.ContainsKey(new SameHash(2000)));

        // A few keys in the big table: Clear frees just their slots, probing past the ones it
        // already freed; afterwards none of them is found and all insert afresh.
        table.Clear();
        for (int round = 0; round < 2; round++)
        {
            for (int i = 0; i < 10; i++)
            {
                table.GetValueRefOrAddDefault(new SameHash(i * 7), out bool exists);
                Assert.False(exists);
            }

            Assert.Equal(10, table.Count);
            Assert.False(table.ContainsKey(new SameHash(1)));
            table.Clear();
            Assert.False(table.ContainsKey(new SameHash(0)));
        }
    }

    [Fact]
    public void Clear_Twice_CountsAsOneIdleWindow()
    {
        var table = new KeyTable<AddressPortKey, TargetStats>();
        for (int i = 0; i < 100_000; i++)
        {
            table.GetValueRefOrAddDefault(new AddressPortKey(IpAddr.FromV4((uint)i), new PortKey(6, TrafficClass.TcpSyn, 23)), out _);
        }

        table.Clear();
        long full = table.CapacityBytes;

        // Sixteen clears with no inserts between them are one idle window, not sixteen.
        for (int i = 0; i < 16; i++)
        {
            table.Clear();
        }

        Assert.Equal(full, table.CapacityBytes);
    }

    [Fact]
    public void Reserve_TakesAWindowsKeysWithoutGrowing_AndKeepsTheKeysItHeld()
    {
        static AddressPortKey K(uint address, ushort port) => new(IpAddr.FromV4(address), new PortKey(6, TrafficClass.TcpSyn, port));
        var table = new KeyTable<AddressPortKey, TargetStats>();
        for (uint i = 0; i < 1000; i++)
        {
            table.GetValueRefOrAddDefault(K(i, 80), out _).Packets = i;
        }

        Assert.True(table.Growths > 0);
        table.Reserve(300_000);
        long capacity = table.CapacityBytes;
        for (uint i = 0; i < 1000; i++)
        {
            Assert.True(table.TryGetValue(K(i, 80), out TargetStats kept));
            Assert.Equal(i, kept.Packets);
        }

        table.Clear();
        Assert.Equal(0, table.Growths);
        for (uint i = 0; i < 300_000; i++)
        {
            table.GetValueRefOrAddDefault(K(0x0A000000u + i, 443), out bool exists).Packets++;
            Assert.False(exists);
        }

        Assert.Equal(0, table.Growths);
        Assert.Equal(capacity, table.CapacityBytes);

        // One key more than reserved for: the table still takes it, by growing.
        for (uint i = 300_000; table.Growths == 0; i++)
        {
            table.GetValueRefOrAddDefault(K(0x0A000000u + i, 443), out _);
        }

        Assert.True(table.Count > 300_000);
        Assert.True(table.TryGetValue(K(0x0A000000u, 443), out _));
    }

    [Fact]
    public void AddressPortKey_Ipv4_DistinctKeysHaveDistinctHashes()
    {
        // Addresses that differ only above bit 17 and ports that differ by one: the old layout
        // (port shifted by 17) gave pairs like these one hash.
        var hashes = new HashSet<ulong>();
        int keys = 0;
        for (uint high = 0; high < 64; high++)
        {
            for (ushort port = 20; port < 30; port++)
            {
                hashes.Add(new AddressPortKey(IpAddr.FromV4((high << 17) | 1), new PortKey(6, TrafficClass.TcpSyn, port)).Hash);
                keys++;
            }
        }

        Assert.Equal(keys, hashes.Count);
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
    public void Growing_WithRunsThatWrapRoundTheEnd_KeepsEveryFingerprint()
    {
        // Fingerprints whose low bits are all ones but for the last five sit in the last 32 slots
        // at every size and move to the new half at every doubling: a run of used slots that
        // wraps round from the end of the array to its start, each time the set doubles. Those
        // whose ones stop at bit k do that up to 2^k slots and then keep their home, so at every
        // doubling some of the wrapped run stays in the old half. Random ones fill the rest.
        var random = new Random(5);
        var set = new FingerprintSet();
        var truth = new HashSet<ulong>();
        var added = new List<ulong>();
        for (int i = 0; i < 300_000; i++)
        {
            ulong high = (ulong)random.NextInt64() << 24;
            ulong value = (i % 100) switch
            {
                0 => high | (0xFF_FFFFUL - (ulong)(i % 32)),
                1 => (high & ~(1UL << (6 + (i % 17)))) | ((1UL << (6 + (i % 17))) - 1 - (ulong)(i % 32)),
                _ => IpAddr.Mix((ulong)random.Next(1 << 20)),
            };

            Assert.Equal(truth.Add(value), set.Add(value));
            added.Add(value);
        }

        Assert.True(set.Growths >= 12, $"{set.Growths} growths");
        Assert.Equal(truth.Count, set.Count);
        foreach (ulong value in added)
        {
            Assert.False(set.Add(value));
        }

        Assert.Equal(truth.Count, set.Count);
    }

    [Fact]
    public void Reserve_TakesThatManyFingerprintsWithoutGrowing()
    {
        var set = new FingerprintSet();
        for (ulong i = 1; i <= 100; i++)
        {
            Assert.True(set.Add(i * 0x9E3779B97F4A7C15UL));
        }

        set.Reserve(500_000);
        long capacity = set.CapacityBytes;
        for (ulong i = 1; i <= 100; i++)
        {
            Assert.False(set.Add(i * 0x9E3779B97F4A7C15UL));
        }

        set.Clear();
        for (ulong i = 1; i <= 500_000; i++)
        {
            Assert.True(set.Add(i * 0x9E3779B97F4A7C15UL));
        }

        Assert.Equal(0, set.Growths);
        Assert.Equal(capacity, set.CapacityBytes);
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
