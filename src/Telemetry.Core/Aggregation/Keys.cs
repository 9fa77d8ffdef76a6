using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;

namespace Telemetry.Core.Aggregation;

/// <summary>Protocol, class and port packed into one number: proto &lt;&lt; 24 | class &lt;&lt; 16 | port.</summary>
public readonly struct PortKey : ITableKey<PortKey>
{
    public PortKey(byte protocol, TrafficClass trafficClass, ushort port) =>
        Packed = ((uint)protocol << 24) | ((uint)trafficClass << 16) | port;

    public uint Packed { get; }

    public byte Protocol => (byte)(Packed >> 24);

    public TrafficClass Class => (TrafficClass)(byte)(Packed >> 16);

    public ushort Port => (ushort)Packed;

    public bool Equals(PortKey other) => Packed == other.Packed;

    public override bool Equals(object? obj) => obj is PortKey other && Equals(other);

    public ulong Hash => IpAddr.Mix(Packed);

    public override int GetHashCode() => (int)Hash;

    public static bool operator ==(PortKey left, PortKey right) => left.Equals(right);

    public static bool operator !=(PortKey left, PortKey right) => !left.Equals(right);
}

/// <summary>An address with a <see cref="PortKey"/>: the key of the target and source tables.</summary>
/// <remarks>Packed to 4 bytes, so a table entry does not spend 4 bytes of padding after it.</remarks>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public readonly struct AddressPortKey : ITableKey<AddressPortKey>
{
    public AddressPortKey(IpAddr address, PortKey port)
    {
        Address = address;
        Port = port;
    }

    public IpAddr Address { get; }

    public PortKey Port { get; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Equals(AddressPortKey other) => Address.Equals(other.Address) && Port.Packed == other.Port.Packed;

    public override bool Equals(object? obj) => obj is AddressPortKey other && Equals(other);

    public ulong Hash
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        // For IPv4 (::ffff:a.b.c.d) the top 32 bits of Lo are constant, so the port key placed
        // there never overlaps the address: distinct IPv4 keys have distinct hashes.
        get => IpAddr.Mix(Address.Lo ^ (Address.Hi * 0x9E3779B97F4A7C15UL) ^ ((ulong)Port.Packed << 32));
    }

    public override int GetHashCode() => (int)Hash;

    public override string ToString() => $"{Address} {Port.Protocol}/{Port.Port} {Port.Class}";

    public static bool operator ==(AddressPortKey left, AddressPortKey right) => left.Equals(right);

    public static bool operator !=(AddressPortKey left, AddressPortKey right) => !left.Equals(right);
}

// The stats are packed to 4 bytes and keep 32-bit distinct counts and times: a table entry
// is part of every key's memory. A distinct count cannot pass 2³² in one window, since each
// distinct item costs a fingerprint or a table entry under the memory cap; packet and byte
// counts stay 64-bit, as a window may be a day long.

/// <summary>A target row: packets to one address and port key; distinct sources exact, counted by <see cref="FingerprintSet"/>.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct TargetStats
{
    public ulong Packets;
    public ulong Bytes;

    /// <summary>Unix seconds of the first and last packet (ClickHouse keeps whole seconds).</summary>
    public uint FirstSecond;
    public uint LastSecond;
    public uint Sources;

    /// <summary>The IPv4 source of the row's first packet, or 0 (an IPv6 or 0.0.0.0 source); see <see cref="WindowTables.Add"/>.</summary>
    public uint FirstSource;
}

[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct PortStats
{
    public ulong Packets;
    public ulong Bytes;
    public uint Sources;
    public uint Targets;
}

[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct SourceStats
{
    public ulong Packets;
    public ulong Bytes;
    public uint Targets;

    /// <summary>The IPv4 target of the row's first packet, or 0 (an IPv6 or 0.0.0.0 target); see <see cref="WindowTables.Add"/>.</summary>
    public uint FirstTarget;
}

/// <summary>What the aggregator needs of one decoded packet.</summary>
public struct RollupInput
{
    public long TimestampNs;
    public IpAddr Source;
    public IpAddr Destination;
    public uint IpBytes;
    public ushort Port;
    public byte Protocol;
    public TrafficClass Class;

    public static RollupInput From(in PacketFacts facts) => new()
    {
        TimestampNs = facts.TimestampNs,
        Source = facts.Source,
        Destination = facts.Destination,
        IpBytes = facts.IpBytes,
        Port = facts.Port,
        Protocol = facts.Protocol,
        Class = facts.Class,
    };
}

/// <summary>
/// A packet's port key and its hash and, for each IPv4 address, its stored row key
/// (<see cref="CompactAddressKey"/>) and that key's hash: worked out once per packet, when its
/// slots are prefetched, and read again by its entry prefetch and its
/// <see cref="WindowTables.Add(in RollupInput, in PacketKeys)"/>, instead of each of the three
/// making them anew. An IPv6 address's stored key holds its index in the table's address list,
/// which only the table knows, so its row is looked up by address and its slot not prefetched.
/// </summary>
public readonly struct PacketKeys
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public PacketKeys(in RollupInput packet)
    {
        Port = new PortKey(packet.Protocol, packet.Class, packet.Port);
        TargetV4 = packet.Destination.IsV4;
        SourceV4 = packet.Source.IsV4;
        Target = CompactAddressKey.V4(TargetV4 ? packet.Destination.V4 : 0, Port);
        Source = CompactAddressKey.V4(SourceV4 ? packet.Source.V4 : 0, Port);
        TargetHash = Target.Hash;
        SourceHash = Source.Hash;
        PortHash = Port.Hash;
    }

    /// <summary>The target row's stored key when <see cref="TargetV4"/> (otherwise that of 0.0.0.0, unused).</summary>
    public CompactAddressKey Target { get; }

    public ulong TargetHash { get; }

    /// <summary>The source row's stored key when <see cref="SourceV4"/> (otherwise that of 0.0.0.0, unused).</summary>
    public CompactAddressKey Source { get; }

    public ulong SourceHash { get; }

    public PortKey Port { get; }

    public ulong PortHash { get; }

    public bool TargetV4 { get; }

    public bool SourceV4 { get; }
}
