using System.Buffers.Binary;
using System.Net;
using System.Runtime.CompilerServices;

namespace Telemetry.Core.Net;

/// <summary>
/// A 16-byte address in IPv6 form; IPv4 is held as the mapped address ::ffff:a.b.c.d,
/// which is also how the ClickHouse tables store it.
/// </summary>
public readonly struct IpAddr : IEquatable<IpAddr>
{
    private const ulong V4MappedPrefix = 0x0000_FFFF_0000_0000UL;

    public IpAddr(ulong hi, ulong lo)
    {
        Hi = hi;
        Lo = lo;
    }

    /// <summary>The first eight bytes in network order, as a big-endian number.</summary>
    public ulong Hi { get; }

    /// <summary>The last eight bytes in network order, as a big-endian number.</summary>
    public ulong Lo { get; }

    public bool IsV4 => Hi == 0 && (Lo & 0xFFFF_FFFF_0000_0000UL) == V4MappedPrefix;

    public uint V4 => (uint)Lo;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static IpAddr FromV4(uint address) => new(0, V4MappedPrefix | address);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static IpAddr FromV6(ReadOnlySpan<byte> sixteen) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(sixteen), BinaryPrimitives.ReadUInt64BigEndian(sixteen[8..]));

    public static IpAddr Parse(string text)
    {
        var address = IPAddress.Parse(text);
        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            Span<byte> four = stackalloc byte[4];
            address.TryWriteBytes(four, out _);
            return FromV4(BinaryPrimitives.ReadUInt32BigEndian(four));
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        return FromV6(bytes);
    }

    /// <summary>Writes the 16 bytes in network order (the FixedString(16) / IPv6 column layout).</summary>
    public void WriteBytes(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, Hi);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Lo);
    }

    /// <summary>A well-mixed 64-bit hash; a bijection for IPv4, so IPv4 hashes never collide.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Hash64() => Mix(Lo ^ (Hi * 0x9E3779B97F4A7C15UL));

    /// <summary>The splitmix64 finaliser: a bijection on 64-bit values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public bool Equals(IpAddr other) => Hi == other.Hi && Lo == other.Lo;

    public override bool Equals(object? obj) => obj is IpAddr other && Equals(other);

    public override int GetHashCode() => (int)Hash64();

    public static bool operator ==(IpAddr left, IpAddr right) => left.Equals(right);

    public static bool operator !=(IpAddr left, IpAddr right) => !left.Equals(right);

    public override string ToString()
    {
        if (IsV4)
        {
            uint v4 = V4;
            return $"{v4 >> 24}.{(v4 >> 16) & 0xFF}.{(v4 >> 8) & 0xFF}.{v4 & 0xFF}";
        }

        Span<byte> bytes = stackalloc byte[16];
        WriteBytes(bytes);
        return new IPAddress(bytes).ToString();
    }
}
