using Telemetry.Core.Aggregation;
using Telemetry.Core.Net;

namespace Telemetry.Core.Tests.Aggregation;

public class DistinctCounterTests
{
    /// <summary>
    /// <paramref name="count"/> distinct IPv4 address hashes: a seeded start and an odd stride
    /// walk distinct addresses, and the IPv4 hash is a bijection.
    /// </summary>
    private static ulong[] Hashes(int count, int seed)
    {
        var random = new Random(seed);
        uint start = (uint)random.Next();
        uint stride = (uint)random.Next() | 1;
        var hashes = new ulong[count];
        for (int i = 0; i < count; i++)
        {
            hashes[i] = IpAddr.FromV4(start + ((uint)i * stride)).Hash64();
        }

        return hashes;
    }

    private static DistinctCounter Count(ReadOnlySpan<ulong> hashes)
    {
        var counter = default(DistinctCounter);
        int heap = 0;
        foreach (ulong hash in hashes)
        {
            heap += counter.Add(hash);
        }

        Assert.Equal(counter.HeapBytes, heap);
        return counter;
    }

    private static void AssertWithin2Percent(long expected, long actual) =>
        Assert.True(Math.Abs(actual - expected) <= 0.02 * expected, $"estimate {actual} for {expected} distinct ({100.0 * (actual - expected) / expected:F2} %)");

    [Fact]
    public void Count_Empty_IsZero()
    {
        var counter = default(DistinctCounter);
        Assert.Equal(0, counter.Count());
        Assert.False(counter.IsEstimate);
        Assert.Equal(0, counter.HeapBytes);
    }

    [Fact]
    public void Count_OneTo64DistinctIpv4_Exact()
    {
        ulong[] hashes = Hashes(DistinctCounter.ExactLimit, seed: 1);
        for (int n = 1; n <= DistinctCounter.ExactLimit; n++)
        {
            DistinctCounter counter = Count(hashes.AsSpan(0, n));
            Assert.Equal(n, counter.Count());
            Assert.False(counter.IsEstimate);
            counter.Release();
        }
    }

    [Fact]
    public void Count_AdjacentAddresses_Exact()
    {
        // Neighbouring addresses differ in a few bits only; the hash must still keep them apart.
        var counter = default(DistinctCounter);
        for (uint a = 0; a < 64; a++)
        {
            counter.Add(IpAddr.FromV4(0xC0000200 + a).Hash64());
        }

        Assert.Equal(64, counter.Count());
        counter.Release();
    }

    [Fact]
    public void Add_Duplicates_NotCounted()
    {
        ulong[] hashes = Hashes(5000, seed: 2);
        foreach (int n in new[] { 1, 2, 17, 64, 65, 4096, 5000 })
        {
            var counter = default(DistinctCounter);
            for (int round = 0; round < 3; round++)
            {
                foreach (ulong hash in hashes.AsSpan(0, n))
                {
                    counter.Add(hash);
                }
            }

            if (n <= DistinctCounter.SparseLimit)
            {
                Assert.Equal(n, counter.Count());
            }
            else
            {
                AssertWithin2Percent(n, counter.Count());
            }

            DistinctCounter once = Count(hashes.AsSpan(0, n));
            Assert.Equal(once.Count(), counter.Count());
            once.Release();
            counter.Release();
        }
    }

    [Theory]
    [InlineData(65, 3)]
    [InlineData(100, 4)]
    [InlineData(1_000, 5)]
    [InlineData(4_096, 5)]
    public void Count_65To4096Distinct_ExactInHashSet(int n, int seed)
    {
        DistinctCounter counter = Count(Hashes(n, seed));
        Assert.False(counter.IsEstimate);
        Assert.Equal(n, counter.Count());
        counter.Release();
    }

    [Theory]
    [InlineData(4_097, 3)]
    [InlineData(5_000, 4)]
    [InlineData(10_000, 6)]
    [InlineData(100_000, 7)]
    [InlineData(1_000_000, 8)]
    public void Count_ManyDistinct_EstimateWithin2Percent(int n, int seed)
    {
        DistinctCounter counter = Count(Hashes(n, seed));
        Assert.True(counter.IsEstimate);
        Assert.Equal(DistinctCounter.RegisterCount, counter.HeapBytes);
        AssertWithin2Percent(n, counter.Count());
        counter.Release();
    }

    [Fact]
    public void Count_ManyKeysPastSparseLimit_EveryKeyWithin2Percent()
    {
        // Not one key in a hundred may miss: 2 % is about five standard errors at 2^16 registers.
        for (int key = 0; key < 100; key++)
        {
            int n = 4_097 + (key * 397);
            DistinctCounter counter = Count(Hashes(n, seed: 1000 + key));
            AssertWithin2Percent(n, counter.Count());
            counter.Release();
        }
    }

    [Theory]
    [InlineData(0, 0, 0)]
    [InlineData(1, 1, 1)]
    [InlineData(1, 1, 0)]
    [InlineData(20, 30, 10)]
    [InlineData(40, 40, 40)]
    [InlineData(40, 40, 10)]
    [InlineData(1, 5_000, 1)]
    [InlineData(30, 5_000, 20)]
    [InlineData(5_000, 30, 20)]
    [InlineData(5_000, 0, 0)]
    [InlineData(5_000, 1, 0)]
    [InlineData(0, 5_000, 0)]
    [InlineData(50_000, 70_000, 20_000)]
    [InlineData(300_000, 300_000, 0)]
    public void Merge_ExactAndEstimatedParts_MatchesUnion(int left, int right, int shared)
    {
        // Left holds values [0, left), right holds [left - shared, left - shared + right).
        ulong[] values = Hashes(left + right - shared, seed: 9);
        DistinctCounter a = Count(values.AsSpan(0, left));
        DistinctCounter b = Count(values.AsSpan(left - shared, right));
        long bBefore = b.Count();
        int heapBefore = a.HeapBytes;

        int taken = a.Merge(b);

        Assert.Equal(a.HeapBytes - heapBefore, taken);
        Assert.Equal(bBefore, b.Count());
        int union = values.Length;
        if (union <= DistinctCounter.SparseLimit)
        {
            Assert.False(a.IsEstimate);
            Assert.Equal(union, a.Count());
        }
        else
        {
            AssertWithin2Percent(union, a.Count());
        }

        // The union of sketches is the sketch of the union.
        DistinctCounter direct = Count(values);
        if (a.IsEstimate && direct.IsEstimate)
        {
            Assert.Equal(direct.Count(), a.Count());
        }

        direct.Release();
        a.Release();
        b.Release();
    }

    [Fact]
    public void Merge_IntoSelfCopy_LeavesSourceUsable()
    {
        DistinctCounter a = Count(Hashes(5000, seed: 11));
        DistinctCounter b = Count(Hashes(10, seed: 12));
        b.Merge(a);
        a.Release();

        // b owns its own registers: releasing a must not change it.
        Assert.True(b.IsEstimate);
        AssertWithin2Percent(5010, b.Count());
        b.Release();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(10_000)]
    public void Release_AnyState_ReturnsToEmpty(int n)
    {
        DistinctCounter counter = Count(Hashes(n, seed: 13));
        counter.Release();

        Assert.Equal(0, counter.Count());
        Assert.False(counter.IsEstimate);
        Assert.Equal(0, counter.HeapBytes);
        DistinctCounter reused = counter;
        Assert.Equal(0, reused.Add(42));
        Assert.Equal(1, reused.Count());
    }

    [Fact]
    public void Add_HeapBytes_GrowOnlyPastOneValue()
    {
        var counter = default(DistinctCounter);
        ulong[] hashes = Hashes(65, seed: 14);
        Assert.Equal(0, counter.Add(hashes[0]));
        Assert.Equal(0, counter.HeapBytes);
        Assert.Equal(16 * sizeof(ulong), counter.Add(hashes[1]));
        for (int i = 2; i < 64; i++)
        {
            counter.Add(hashes[i]);
        }

        Assert.Equal(64 * sizeof(ulong), counter.HeapBytes);

        // The 65th value moves the set into a hash table at most half full (256 slots).
        Assert.Equal((256 - 64) * sizeof(ulong), counter.Add(hashes[64]));
        Assert.Equal(256 * sizeof(ulong), counter.HeapBytes);
        counter.Release();
    }

    [Fact]
    public void Add_PastSparseLimit_TurnsIntoRegisters()
    {
        var counter = default(DistinctCounter);
        ulong[] hashes = Hashes(DistinctCounter.SparseLimit + 1, seed: 15);
        foreach (ulong hash in hashes.AsSpan(0, DistinctCounter.SparseLimit))
        {
            counter.Add(hash);
        }

        Assert.False(counter.IsEstimate);
        Assert.Equal(DistinctCounter.SparseLimit * 2 * sizeof(ulong), counter.HeapBytes);
        Assert.Equal(DistinctCounter.RegisterCount - counter.HeapBytes, counter.Add(hashes[^1]));
        Assert.True(counter.IsEstimate);
        counter.Release();
    }
}
