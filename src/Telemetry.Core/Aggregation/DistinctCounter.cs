using System.Numerics;
using System.Runtime.CompilerServices;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// Counts distinct 64-bit hashes. Exact up to <see cref="SparseLimit"/> values: one value
/// inline, up to <see cref="ExactLimit"/> in a small array searched with SIMD, then in an
/// open-addressing hash set. Past that, a HyperLogLog with 2^16 one-byte registers read
/// with Ertl's improved estimator: standard error 0.41 %, so 2 % is about five standard errors.
/// Memory: 32 bytes inline; 2–64 values a pooled ulong[16..64] (128–512 bytes); 65–4096 a
/// pooled hash table at most half full (2–64 KiB); past 4096 a pooled 64 KiB register array.
/// The arrays come from <see cref="CounterArrays"/>, which keeps them across windows.
/// Addresses are hashed with a bijection for IPv4, so IPv4 counts are exact up to the limit.
/// </summary>
public struct DistinctCounter
{
    public const int ExactLimit = 64;
    public const int SparseLimit = 4096;
    public const int Precision = 16;
    public const int RegisterCount = 1 << Precision;
    private const int MaxRank = 64 - Precision + 1;

    // The hash table marks empty slots with 0, so a hash of 0 is stored as this constant.
    private const ulong ZeroStandIn = 0x9E3779B97F4A7C15UL;

    private ulong _first;
    private ulong[]? _values;
    private byte[]? _registers;
    private int _count;

    /// <summary>True once the counter has turned into a HyperLogLog.</summary>
    public readonly bool IsEstimate => _registers is not null;

    /// <summary>Heap bytes the counter holds beyond its inline fields.</summary>
    public readonly int HeapBytes => _registers?.Length ?? (_values is null ? 0 : _values.Length * sizeof(ulong));

    /// <summary>Adds a hash; returns the heap bytes newly taken (0 in the common case).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Add(ulong hash)
    {
        if (_registers is not null)
        {
            AddToRegisters(_registers, hash);
            return 0;
        }

        if (_count == 0)
        {
            _first = hash;
            _count = 1;
            return 0;
        }

        if (_count == 1 && _first == hash)
        {
            return 0;
        }

        return AddSlow(hash);
    }

    private int AddSlow(ulong hash)
    {
        if (_values is null)
        {
            _values = CounterArrays.RentValues(16);
            _values[0] = _first;
            _values[1] = hash;
            _count = 2;
            return _values.Length * sizeof(ulong);
        }

        if (_count > ExactLimit)
        {
            return AddToSet(hash);
        }

        Span<ulong> used = _values.AsSpan(0, _count);
        if (used.Contains(hash))
        {
            return 0;
        }

        if (_count < _values.Length)
        {
            _values[_count++] = hash;
            return 0;
        }

        int before = _values.Length * sizeof(ulong);
        if (_count < ExactLimit)
        {
            ulong[] bigger = CounterArrays.RentValues(_values.Length * 2);
            used.CopyTo(bigger);
            bigger[_count++] = hash;
            CounterArrays.ReturnValues(_values);
            _values = bigger;
            return (bigger.Length * sizeof(ulong)) - before;
        }

        // 65th value: the small array becomes a hash set.
        ulong[] small = _values;
        _values = RentTable(ExactLimit * 4);
        _count = 0;
        foreach (ulong value in small.AsSpan(0, ExactLimit))
        {
            Insert(_values, value);
            _count++;
        }

        CounterArrays.ReturnValues(small);
        Insert(_values, hash);
        _count++;
        return (_values.Length * sizeof(ulong)) - before;
    }

    private int AddToSet(ulong hash)
    {
        ulong[] table = _values!;
        if (!Insert(table, hash))
        {
            return 0;
        }

        _count++;
        if (_count * 2 <= table.Length)
        {
            return 0;
        }

        int before = table.Length * sizeof(ulong);
        if (_count > SparseLimit)
        {
            byte[] registers = RentRegisters();
            foreach (ulong value in table)
            {
                if (value != 0)
                {
                    AddToRegisters(registers, value == ZeroStandIn ? 0 : value);
                }
            }

            CounterArrays.ReturnValues(table);
            _values = null;
            _registers = registers;
            return registers.Length - before;
        }

        ulong[] bigger = RentTable(table.Length * 2);
        foreach (ulong value in table)
        {
            if (value != 0)
            {
                Insert(bigger, value);
            }
        }

        CounterArrays.ReturnValues(table);
        _values = bigger;
        return (bigger.Length * sizeof(ulong)) - before;
    }

    /// <summary>Linear probing; returns false when the value was already present.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Insert(ulong[] table, ulong value)
    {
        if (value == 0)
        {
            value = ZeroStandIn;
        }

        int mask = table.Length - 1;
        for (int i = (int)value & mask; ; i = (i + 1) & mask)
        {
            ulong slot = table[i];
            if (slot == value)
            {
                return false;
            }

            if (slot == 0)
            {
                table[i] = value;
                return true;
            }
        }
    }

    private static ulong[] RentTable(int length)
    {
        ulong[] table = CounterArrays.RentValues(length);
        Array.Clear(table);
        return table;
    }

    /// <summary>The exact count up to the limit, then the estimate, rounded.</summary>
    public readonly long Count()
    {
        if (_registers is null)
        {
            return _count;
        }

        return (long)Math.Round(Estimate(_registers));
    }

    /// <summary>Adds every value of <paramref name="other"/>; returns the heap bytes newly taken.</summary>
    public int Merge(in DistinctCounter other)
    {
        if (other._registers is not null)
        {
            int taken = 0;
            if (_registers is null)
            {
                byte[] registers = RentRegisters();
                ForEach(registers);
                taken = registers.Length - HeapBytes;
                ReleaseValues();
                _registers = registers;
            }

            Span<byte> mine = _registers.AsSpan(0, RegisterCount);
            ReadOnlySpan<byte> theirs = other._registers.AsSpan(0, RegisterCount);
            for (int i = 0; i < mine.Length; i++)
            {
                if (theirs[i] > mine[i])
                {
                    mine[i] = theirs[i];
                }
            }

            return taken;
        }

        int added = 0;
        if (other._values is not null)
        {
            bool set = other._count > ExactLimit;
            ReadOnlySpan<ulong> values = set ? other._values : other._values.AsSpan(0, other._count);
            foreach (ulong value in values)
            {
                if (!set)
                {
                    added += Add(value);
                }
                else if (value != 0)
                {
                    added += Add(value == ZeroStandIn ? 0 : value);
                }
            }
        }
        else if (other._count == 1)
        {
            added += Add(other._first);
        }

        return added;
    }

    /// <summary>Adds every exact value to <paramref name="registers"/>.</summary>
    private readonly void ForEach(byte[] registers)
    {
        if (_values is not null)
        {
            bool set = _count > ExactLimit;
            ReadOnlySpan<ulong> values = set ? _values : _values.AsSpan(0, _count);
            foreach (ulong value in values)
            {
                if (!set)
                {
                    AddToRegisters(registers, value);
                }
                else if (value != 0)
                {
                    AddToRegisters(registers, value == ZeroStandIn ? 0 : value);
                }
            }
        }
        else if (_count == 1)
        {
            AddToRegisters(registers, _first);
        }
    }

    private void ReleaseValues()
    {
        if (_values is not null)
        {
            CounterArrays.ReturnValues(_values);
            _values = null;
        }
    }

    /// <summary>Returns pooled arrays and empties the counter.</summary>
    public void Release()
    {
        ReleaseValues();
        if (_registers is not null)
        {
            CounterArrays.ReturnRegisters(_registers);
        }

        this = default;
    }

    private static byte[] RentRegisters() => CounterArrays.RentRegisters();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddToRegisters(byte[] registers, ulong hash)
    {
        int index = (int)(hash >> (64 - Precision));
        ulong rest = hash << Precision;
        byte rank = (byte)Math.Min(BitOperations.LeadingZeroCount(rest) + 1, MaxRank);
        if (rank > registers[index])
        {
            registers[index] = rank;
        }
    }

    /// <summary>Ertl (2017), "New cardinality estimation algorithms for HyperLogLog sketches": the improved raw estimator.</summary>
    private static double Estimate(byte[] registers)
    {
        const int q = 64 - Precision;
        Span<int> histogram = stackalloc int[q + 2];
        foreach (byte r in registers.AsSpan(0, RegisterCount))
        {
            histogram[r]++;
        }

        double m = RegisterCount;
        double z = m * Tau(1.0 - (histogram[q + 1] / m));
        for (int k = q; k >= 1; k--)
        {
            z = 0.5 * (z + histogram[k]);
        }

        z += m * Sigma(histogram[0] / m);
        const double alphaInfinity = 0.721347520444481703680; // 1 / (2 ln 2)
        return alphaInfinity * m * m / z;
    }

    private static double Sigma(double x)
    {
        if (x == 1.0)
        {
            return double.PositiveInfinity;
        }

        double y = 1.0;
        double z = x;
        double previous;
        do
        {
            x *= x;
            previous = z;
            z += x * y;
            y += y;
        }
        while (z != previous);
        return z;
    }

    private static double Tau(double x)
    {
        if (x == 0.0 || x == 1.0)
        {
            return 0.0;
        }

        double y = 1.0;
        double z = 1 - x;
        double previous;
        do
        {
            x = Math.Sqrt(x);
            previous = z;
            y *= 0.5;
            z -= Math.Pow(1 - x, 2) * y;
        }
        while (z != previous);
        return z / 3;
    }
}
