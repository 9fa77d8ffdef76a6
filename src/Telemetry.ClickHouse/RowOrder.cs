using System.Numerics;
using System.Runtime.CompilerServices;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;

namespace Telemetry.ClickHouse;

/// <summary>
/// Puts a window's target or source rows in the order of their table's sorting key
/// (address, window_start, sensor, proto, dst_port, class): ClickHouse then finds each insert
/// block already sorted and skips sorting it, which measured about 40 % of its CPU for a
/// target-table insert on 18.16 (benchmarks/HISTORY.md). Within one window the window and sensor
/// are the same for every row, and (address, proto, port, class) is the row's key.
/// </summary>
/// <remarks>The key, order and IPv6 arrays are kept from flush to flush, so a steady service allocates nothing here.</remarks>
internal sealed class RowOrder
{
    // The class column is a String: rows sort by the class's name, not its number.
    private static readonly byte[] s_classRank = ClassRanks();

    // Below every IPv4-mapped address, ::ffff:0.0.0.0, in the (Hi, Lo) words that sort like the 16 bytes.
    private const ulong V4MappedLo = 0x0000_FFFF_0000_0000UL;

    // Ranges this small are left to an introsort; larger ones are split by their next digit.
    private const int SmallRange = 4096;
    private const int DigitBits = 11;
    private const int Buckets = 1 << DigitBits;

    // Keys and positions, sorted together in place: 12 bytes a row and no second copy, because a
    // flush of millions of rows sorts them while the window's tables are still held.
    private ulong[] _keys = [];
    private int[] _order = [];
    private V6Row[] _v6 = [];

    /// <summary>The positions of the table's entries in sorting-key order (the first Count of the array); valid until the next call.</summary>
    public int[] Sort<TValue>(AddressTable<TValue> table)
        where TValue : unmanaged
    {
        int count = table.Count;
        if (_order.Length < count)
        {
            _order = new int[count];
            _keys = new ulong[count];
        }

        // IPv4 rows sort by one 64-bit key: address, proto, port, class rank. The rare IPv6
        // rows are sorted apart and placed before or after them, as their bytes compare.
        int v4 = 0;
        int v6 = 0;
        KeyTable<CompactAddressKey, TValue> rows = table.Stored;
        for (int i = 0; i < count; i++)
        {
            CompactAddressKey key = rows.EntryAt(i).Key;
            uint tail = Tail(key.Port);
            if (key.IsV6)
            {
                if (v6 == _v6.Length)
                {
                    Array.Resize(ref _v6, Math.Max(64, v6 * 2));
                }

                IpAddr address = table.AddressOf(key);
                _v6[v6++] = new V6Row(address.Hi, address.Lo, tail, i);
                continue;
            }

            _keys[v4] = ((ulong)key.Address << 32) | tail;
            _order[v4++] = i;
        }

        SortKeys(_keys.AsSpan(0, v4), _order.AsSpan(0, v4));
        if (v6 > 0)
        {
            Span<V6Row> sorted = _v6.AsSpan(0, v6);
            sorted.Sort();
            int below = 0;
            while (below < v6 && sorted[below].Hi == 0 && sorted[below].Lo < V4MappedLo)
            {
                below++;
            }

            Array.Copy(_order, 0, _order, below, v4);
            for (int j = 0; j < v6; j++)
            {
                _order[j < below ? j : v4 + j] = sorted[j].Index;
            }
        }

        return _order;
    }

    // Keys are distinct (one per table key), so the order needs no stability.
    private static void SortKeys(Span<ulong> keys, Span<int> order)
    {
        if (keys.Length < 2)
        {
            return;
        }

        // Bits every key shares (a darknet's network bits, most protocol and class bits) cannot
        // split anything: the first digit starts at the highest bit that differs.
        ulong differ = 0;
        foreach (ulong key in keys)
        {
            differ |= key ^ keys[0];
        }

        if (differ != 0)
        {
            SortRange(keys, order, 63 - BitOperations.LeadingZeroCount(differ));
        }
    }

    // Sorts a range whose keys agree above bit `top`: an in-place MSD radix pass on the digit
    // that ends at `top` ("American flag" sort: each key is swapped straight into its bucket),
    // then each bucket on the bits below it, by the same pass or, once small, by introsort.
    private static void SortRange(Span<ulong> keys, Span<int> order, int top)
    {
        if (keys.Length <= SmallRange || top < DigitBits)
        {
            keys.Sort(order);
            return;
        }

        int shift = top + 1 - DigitBits;
        Span<int> next = stackalloc int[Buckets];
        Span<int> ends = stackalloc int[Buckets];
        next.Clear();
        foreach (ulong key in keys)
        {
            next[Digit(key, shift)]++;
        }

        int sum = 0;
        for (int b = 0; b < Buckets; b++)
        {
            int n = next[b];
            next[b] = sum;
            sum += n;
            ends[b] = sum;
        }

        for (int b = 0; b < Buckets; b++)
        {
            while (next[b] < ends[b])
            {
                // Carry the key at the bucket's next free place round its cycle until one belongs here.
                ulong key = keys[next[b]];
                int item = order[next[b]];
                for (int d = Digit(key, shift); d != b; d = Digit(key, shift))
                {
                    int at = next[d]++;
                    (key, keys[at]) = (keys[at], key);
                    (item, order[at]) = (order[at], item);
                }

                keys[next[b]] = key;
                order[next[b]++] = item;
            }
        }

        int start = 0;
        for (int b = 0; b < Buckets; b++)
        {
            int length = ends[b] - start;
            if (length > 1)
            {
                SortRange(keys.Slice(start, length), order.Slice(start, length), shift - 1);
            }

            start = ends[b];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Digit(ulong key, int shift) => (int)(key >> shift) & (Buckets - 1);

    private static uint Tail(PortKey port) => ((uint)port.Protocol << 24) | ((uint)port.Port << 8) | s_classRank[(int)port.Class];

    // An IPv6 row's sort key: its address as two words that compare like its 16 bytes, then its tail.
    private readonly record struct V6Row(ulong Hi, ulong Lo, uint Tail, int Index) : IComparable<V6Row>
    {
        public int CompareTo(V6Row other) =>
            Hi != other.Hi ? Hi.CompareTo(other.Hi) : Lo != other.Lo ? Lo.CompareTo(other.Lo) : Tail.CompareTo(other.Tail);
    }

    private static byte[] ClassRanks()
    {
        var ranks = new byte[TrafficClasses.Names.Count];
        byte rank = 0;
        foreach (int value in Enumerable.Range(0, ranks.Length).OrderBy(v => TrafficClasses.Names[v], StringComparer.Ordinal))
        {
            ranks[value] = rank++;
        }

        return ranks;
    }
}
