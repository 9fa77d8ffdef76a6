using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;

namespace Telemetry.ClickHouse;

/// <summary>
/// Puts a window's target or source rows in the order of their table's sorting key
/// (address, window_start, sensor, proto, dst_port, class): ClickHouse then finds each insert
/// block already sorted and skips sorting it, which measured about 40 % of its CPU for a
/// target-table insert on 18.16 (benchmarks/README.md). Within one window the window and sensor
/// are the same for every row, and (address, proto, port, class) is the row's key.
/// </summary>
/// <remarks>The key and order arrays are kept from flush to flush, so a steady service allocates nothing here.</remarks>
internal sealed class RowOrder
{
    // The class column is a String: rows sort by the class's name, not its number.
    private static readonly byte[] s_classRank = ClassRanks();

    // Below every IPv4-mapped address, ::ffff:0.0.0.0, in the (Hi, Lo) words that sort like the 16 bytes.
    private const ulong V4MappedLo = 0x0000_FFFF_0000_0000UL;

    private const int DigitBits = 11;
    private const int Buckets = 1 << DigitBits;

    // Keys and positions, and the radix sort's second copy of each; the sort swaps them.
    private ulong[] _keys = [];
    private int[] _order = [];
    private ulong[] _keysSpare = [];
    private int[] _orderSpare = [];

    /// <summary>The positions of the table's entries in sorting-key order (the first Count of the array); valid until the next call.</summary>
    public int[] Sort<TValue>(AddressTable<TValue> table)
    {
        int count = table.Count;
        if (_order.Length < count)
        {
            _order = new int[count];
            _keys = new ulong[count];
            _orderSpare = new int[count];
            _keysSpare = new ulong[count];
        }

        // IPv4 rows sort by one 64-bit key: address, proto, port, class rank. The rare IPv6
        // rows are sorted apart and placed before or after them, as their bytes compare.
        int v4 = 0;
        List<(IpAddr Address, uint Tail, int Index)>? v6 = null;
        KeyTable<CompactAddressKey, TValue> rows = table.Stored;
        for (int i = 0; i < count; i++)
        {
            CompactAddressKey key = rows.EntryAt(i).Key;
            uint tail = Tail(key.Port);
            if (key.IsV6)
            {
                (v6 ??= []).Add((table.AddressOf(key), tail, i));
                continue;
            }

            _keys[v4] = ((ulong)key.Address << 32) | tail;
            _order[v4++] = i;
        }

        RadixSort(v4);
        if (v6 is not null)
        {
            v6.Sort((a, b) => (a.Address.Hi, a.Address.Lo, a.Tail).CompareTo((b.Address.Hi, b.Address.Lo, b.Tail)));
            int below = v6.Count(r => r.Address.Hi == 0 && r.Address.Lo < V4MappedLo);
            Array.Copy(_order, 0, _order, below, v4);
            for (int j = 0; j < v6.Count; j++)
            {
                _order[j < below ? j : v4 + j] = v6[j].Index;
            }
        }

        return _order;
    }

    // Least significant digit first, 11 bits at a time, stable; a digit that every key shares
    // (the high bits of a darknet's addresses, most protocol and class bits) costs one counting
    // pass and no moves.
    private void RadixSort(int count)
    {
        if (count < 2)
        {
            return;
        }

        Span<int> starts = stackalloc int[Buckets];
        for (int shift = 0; shift < 64; shift += DigitBits)
        {
            ulong[] keys = _keys;
            starts.Clear();
            for (int i = 0; i < count; i++)
            {
                starts[(int)(keys[i] >> shift) & (Buckets - 1)]++;
            }

            if (starts[(int)(keys[0] >> shift) & (Buckets - 1)] == count)
            {
                continue;
            }

            int sum = 0;
            for (int b = 0; b < Buckets; b++)
            {
                int n = starts[b];
                starts[b] = sum;
                sum += n;
            }

            int[] order = _order;
            ulong[] keysTo = _keysSpare;
            int[] orderTo = _orderSpare;
            for (int i = 0; i < count; i++)
            {
                ulong key = keys[i];
                int at = starts[(int)(key >> shift) & (Buckets - 1)]++;
                keysTo[at] = key;
                orderTo[at] = order[i];
            }

            (_keys, _keysSpare) = (keysTo, keys);
            (_order, _orderSpare) = (orderTo, order);
        }
    }

    private static uint Tail(PortKey port) => ((uint)port.Protocol << 24) | ((uint)port.Port << 8) | s_classRank[(int)port.Class];

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
