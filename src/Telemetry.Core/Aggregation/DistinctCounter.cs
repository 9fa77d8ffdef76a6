using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// Counts distinct 64-bit hashes: exactly up to <see cref="ExactLimit"/> values, then as a
/// HyperLogLog with 2^14 one-byte registers read with Ertl's improved estimator (standard
/// error 0.81 %, so 2 % is about 2.5 standard errors).
/// Memory: 32 bytes inline; 1 value needs nothing more; 2–64 values live in a pooled
/// ulong[] of 16, 32 or 64 entries (128–512 bytes); past 64 a pooled 16 KiB register array.
/// Addresses are hashed with a bijection for IPv4, so IPv4 counts are exact up to the limit.
/// </summary>
public struct DistinctCounter
{
    public const int ExactLimit = 64;
    public const int Precision = 14;
    public const int RegisterCount = 1 << Precision;
    private const int MaxRank = 64 - Precision + 1;

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
            _values = ArrayPool<ulong>.Shared.Rent(16);
            _values[0] = _first;
            _values[1] = hash;
            _count = 2;
            return _values.Length * sizeof(ulong);
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

        if (_count < ExactLimit)
        {
            ulong[] bigger = ArrayPool<ulong>.Shared.Rent(_values.Length * 2);
            used.CopyTo(bigger);
            bigger[_count++] = hash;
            int grown = (bigger.Length - _values.Length) * sizeof(ulong);
            ArrayPool<ulong>.Shared.Return(_values);
            _values = bigger;
            return grown;
        }

        byte[] registers = RentRegisters();
        foreach (ulong value in used)
        {
            AddToRegisters(registers, value);
        }

        AddToRegisters(registers, hash);
        int delta = registers.Length - (_values.Length * sizeof(ulong));
        ArrayPool<ulong>.Shared.Return(_values);
        _values = null;
        _registers = registers;
        return delta;
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
        int taken = 0;
        if (other._registers is not null)
        {
            if (_registers is null)
            {
                byte[] registers = RentRegisters();
                if (_values is not null)
                {
                    foreach (ulong value in _values.AsSpan(0, _count))
                    {
                        AddToRegisters(registers, value);
                    }

                    taken -= _values.Length * sizeof(ulong);
                    ArrayPool<ulong>.Shared.Return(_values);
                    _values = null;
                }
                else if (_count == 1)
                {
                    AddToRegisters(registers, _first);
                }

                _registers = registers;
                taken += registers.Length;
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

        if (other._values is not null)
        {
            foreach (ulong value in other._values.AsSpan(0, other._count))
            {
                taken += Add(value);
            }
        }
        else if (other._count == 1)
        {
            taken += Add(other._first);
        }

        return taken;
    }

    /// <summary>Returns pooled arrays and empties the counter.</summary>
    public void Release()
    {
        if (_values is not null)
        {
            ArrayPool<ulong>.Shared.Return(_values);
        }

        if (_registers is not null)
        {
            ArrayPool<byte>.Shared.Return(_registers);
        }

        this = default;
    }

    private static byte[] RentRegisters()
    {
        byte[] registers = ArrayPool<byte>.Shared.Rent(RegisterCount);
        Array.Clear(registers, 0, RegisterCount);
        return registers;
    }

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
