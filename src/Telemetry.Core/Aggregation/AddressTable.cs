using System.Collections;
using System.Runtime.CompilerServices;
using Telemetry.Core.Net;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// An (address, port key) in 8 bytes: an IPv4 address as itself, an IPv6 address as its index
/// in the <see cref="AddressTable{TValue}"/>'s list of IPv6 addresses, told apart by a bit of
/// the port key that no port key uses (the traffic class is below 128).
/// </summary>
public readonly struct CompactAddressKey : ITableKey<CompactAddressKey>
{
    private const uint V6Flag = 0x0080_0000;

    private readonly ulong _value;

    private CompactAddressKey(uint address, uint port) => _value = ((ulong)port << 32) | address;

    /// <summary>The IPv4 address, or the index of the IPv6 address.</summary>
    public uint Address => (uint)_value;

    public PortKey Port => new((byte)(_value >> 56), (Decode.TrafficClass)(byte)((_value >> 48) & 0x7F), (ushort)(_value >> 32));

    public bool IsV6 => ((uint)(_value >> 32) & V6Flag) != 0;

    // Mix is a bijection, so distinct keys always have distinct hashes.
    public ulong Hash
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => IpAddr.Mix(_value);
    }

    public static CompactAddressKey V4(uint address, PortKey port) => new(address, port.Packed);

    public static CompactAddressKey V6(uint index, PortKey port) => new(index, port.Packed | V6Flag);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Equals(CompactAddressKey other) => _value == other._value;

    public override bool Equals(object? obj) => obj is CompactAddressKey other && Equals(other);

    public override int GetHashCode() => (int)Hash;

    public static bool operator ==(CompactAddressKey left, CompactAddressKey right) => left.Equals(right);

    public static bool operator !=(CompactAddressKey left, CompactAddressKey right) => !left.Equals(right);
}

/// <summary>An IPv6 address as a key of the side list of an <see cref="AddressTable{TValue}"/>.</summary>
public readonly struct V6AddressKey(IpAddr address) : ITableKey<V6AddressKey>
{
    public IpAddr Address { get; } = address;

    public ulong Hash => Address.Hash64();

    public bool Equals(V6AddressKey other) => Address.Equals(other.Address);

    public override bool Equals(object? obj) => obj is V6AddressKey other && Equals(other);

    public override int GetHashCode() => Address.GetHashCode();

    public static bool operator ==(V6AddressKey left, V6AddressKey right) => left.Equals(right);

    public static bool operator !=(V6AddressKey left, V6AddressKey right) => !left.Equals(right);
}

/// <summary>
/// A <see cref="KeyTable{TKey, TValue}"/> keyed by (address, port key) that stores each key in
/// 8 bytes instead of 20 (<see cref="CompactAddressKey"/>): nearly all darknet traffic is IPv4,
/// and the key is part of every row's memory. IPv6 addresses are kept once each in a side table,
/// in the order first seen. Reads and enumeration speak <see cref="AddressPortKey"/>.
/// </summary>
public sealed class AddressTable<TValue> : IEnumerable<KeyValuePair<AddressPortKey, TValue>>, IDisposable
    where TValue : unmanaged
{
    // Each IPv6 address's value is its own position in the side table.
    private readonly KeyTable<V6AddressKey, uint> _v6 = new();

    public int Count => Stored.Count;

    /// <summary>The rows as stored; <see cref="AddressOf"/> turns a stored key's address back into an address.</summary>
    public KeyTable<CompactAddressKey, TValue> Stored { get; } = new();

    /// <summary>Bytes of one row at full load (an IPv6 address adds <see cref="V6BytesPerAddress"/> once).</summary>
    public int BytesPerKey => Stored.BytesPerKey;

    public int V6BytesPerAddress => _v6.BytesPerKey;

    public long CapacityBytes => Stored.CapacityBytes + _v6.CapacityBytes;

    /// <summary>Times the row table or the IPv6 side table doubled since the last <see cref="Clear"/>.</summary>
    public int Growths => Stored.Growths + _v6.Growths;

    /// <summary>Distinct IPv6 addresses the rows have held since the last <see cref="Clear"/> (a merge that removes rows keeps their addresses).</summary>
    public int V6Addresses => _v6.Count;

    /// <summary>Makes room for <paramref name="keys"/> rows, <paramref name="v6Addresses"/> of their addresses IPv6, without growing.</summary>
    public void Reserve(int keys, int v6Addresses)
    {
        Stored.Reserve(keys);
        _v6.Reserve(v6Addresses);
    }

    public IEnumerable<AddressPortKey> Keys => this.Select(pair => pair.Key);

    public IEnumerable<TValue> Values => Stored.Values;

    public TValue this[AddressPortKey key] =>
        TryGetValue(key, out TValue value) ? value : throw new KeyNotFoundException($"{key} is not in the table");

    /// <summary>Asks the CPU to start loading the slot of an IPv4 key (IPv6 keys need their index first).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(in IpAddr address, PortKey port)
    {
        if (address.IsV4)
        {
            Stored.Prefetch(CompactAddressKey.V4(address.V4, port));
        }
    }

    /// <summary>Second prefetch stage for an IPv4 key: the entry its home slot points to (see <see cref="KeyTable{TKey, TValue}.PrefetchEntry"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    /// <returns>Whether the key is likely in the table (always true for IPv6, which is not prefetched).</returns>
    public bool PrefetchEntry(in IpAddr address, PortKey port) =>
        !address.IsV4 || Stored.PrefetchEntry(CompactAddressKey.V4(address.V4, port));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref TValue GetValueRefOrAddDefault(scoped in IpAddr address, PortKey port, out bool exists)
    {
        CompactAddressKey key = address.IsV4 ? CompactAddressKey.V4(address.V4, port) : CompactAddressKey.V6(Intern(address), port);
        return ref Stored.GetValueRefOrAddDefault(key, out exists);
    }

    /// <summary>
    /// <see cref="GetValueRefOrAddDefault(in IpAddr, PortKey, out bool)"/> for a caller that has
    /// worked out an IPv4 address's stored key and its hash already (<see cref="PacketKeys"/>):
    /// those are used when <paramref name="isV4"/>; an IPv6 address is looked up as there.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref TValue GetValueRefOrAddDefault(scoped in IpAddr address, PortKey port, bool isV4, in CompactAddressKey v4Key, ulong v4Hash, out bool exists) =>
        ref isV4
            ? ref Stored.GetValueRefOrAddDefault(v4Key, v4Hash, out exists)
            : ref GetValueRefOrAddDefault(address, port, out exists);

    public bool TryGetValue(in AddressPortKey key, out TValue value)
    {
        ref TValue found = ref GetValueRefOrNullRef(key.Address, key.Port);
        value = Unsafe.IsNullRef(ref found) ? default : found;
        return !Unsafe.IsNullRef(ref found);
    }

    public bool ContainsKey(in AddressPortKey key) => TryGetValue(key, out _);

    /// <summary>The row of an address and port key, or a null reference when the table has none.</summary>
    public ref TValue GetValueRefOrNullRef(scoped in IpAddr address, PortKey port)
    {
        if (address.IsV4)
        {
            return ref Stored.GetValueRefOrNullRef(CompactAddressKey.V4(address.V4, port));
        }

        return ref _v6.TryGetValue(new V6AddressKey(address), out uint index)
            ? ref Stored.GetValueRefOrNullRef(CompactAddressKey.V6(index, port))
            : ref Unsafe.NullRef<TValue>();
    }

    public IpAddr AddressOf(in CompactAddressKey key) => key.IsV6 ? _v6.EntryAt((int)key.Address).Key.Address : IpAddr.FromV4(key.Address);

    public AddressPortKey KeyOf(in CompactAddressKey key) => new(AddressOf(key), key.Port);

    public void Clear()
    {
        Stored.Clear();
        _v6.Clear();
    }

    /// <summary>Gives both tables' slots and entries back at once (see <see cref="KeyTable{TKey, TValue}.Dispose"/>).</summary>
    public void Dispose()
    {
        Stored.Dispose();
        _v6.Dispose();
    }

    public IEnumerator<KeyValuePair<AddressPortKey, TValue>> GetEnumerator()
    {
        foreach ((CompactAddressKey key, TValue value) in Stored)
        {
            yield return new KeyValuePair<AddressPortKey, TValue>(KeyOf(key), value);
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private uint Intern(scoped in IpAddr address)
    {
        ref uint index = ref _v6.GetValueRefOrAddDefault(new V6AddressKey(address), out bool known);
        if (!known)
        {
            index = (uint)(_v6.Count - 1);
        }

        return index;
    }
}
