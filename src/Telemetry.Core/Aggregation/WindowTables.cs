using System.Diagnostics;
using System.Runtime.CompilerServices;
using Telemetry.Core.Net;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// The three rollup tables of one sensor and one window, as one shard (or, after merging,
/// all shards) saw them, and the fingerprints that make their distinct counts exact.
/// Every packet goes to its destination's shard, which updates all three rows; so each
/// (target, source, port) triple is seen by one shard only, and a target's sources and a
/// source's targets, counted per shard, are disjoint between shards and add up. A source that
/// sends to destinations of several shards has a row in each, which <see cref="Merge"/> adds
/// together, correcting its port's distinct sources. A port's distinct targets need no
/// fingerprints of their own: the target table's key is (destination, port), so a new target
/// row is a new target of its port; likewise a new source row is a new source of its port
/// (of this partial). Only (target, source, port) triples are kept.
/// </summary>
public sealed class WindowTables : IDisposable
{
    /// <summary>Bytes of one key of each table at full load: its entry and its share of slots; and of one fingerprint.</summary>
    internal static readonly int TargetEntryBytes = new AddressTable<TargetStats>().BytesPerKey;
    internal static readonly int PortEntryBytes = new KeyTable<PortKey, PortStats>().BytesPerKey;
    internal static readonly int SourceEntryBytes = new AddressTable<SourceStats>().BytesPerKey;

    // An IPv6 key is charged for its address too, whether or not another row has it already.
    internal static readonly int V6AddressBytes = new AddressTable<SourceStats>().V6BytesPerAddress;
    internal const int FingerprintBytes = 16;

    private const ulong TripleDomain = 0x2545F4914F6CDD1DUL;

    public WindowTables(int sensorId, long windowStartNs)
    {
        SensorId = sensorId;
        WindowStartNs = windowStartNs;
    }

    public int SensorId { get; private set; }

    /// <summary>The shard that fills these tables, and whose pool they return to.</summary>
    public int Shard { get; internal set; }

    public long WindowStartNs { get; private set; }

    /// <summary>The tables' native memory has been given back (<see cref="Dispose"/>); the tables must not be used.</summary>
    internal bool Disposed { get; private set; }

    /// <summary>Holds packets that arrived after the window had closed.</summary>
    public bool IsLate { get; set; }

    /// <summary>Closed before the watermark passed it, because memory ran past its cap.</summary>
    public bool IsEarly { get; set; }

    public AddressTable<TargetStats> Targets { get; } = new();

    public KeyTable<PortKey, PortStats> Ports { get; } = new();

    public AddressTable<SourceStats> Sources { get; } = new();

    /// <summary>Every (target, source, port) this partial has counted.</summary>
    public FingerprintSet Seen { get; } = new();

    /// <summary>
    /// Bytes charged for what the window holds, as the memory cap counts them while the window
    /// is open: each key at its table's full-load cost and 16 bytes per fingerprint. After
    /// <see cref="Merge"/> the charge of source and port rows held by several partials is
    /// counted once (the shards had released their partials' charge when they closed them).
    /// The arrays themselves (<see cref="CapacityBytes"/>) are up to about twice that just
    /// after a table doubles.
    /// </summary>
    public long ApproximateBytes { get; private set; }

    /// <summary>Bytes of the tables' and fingerprint set's arrays (all native memory), used or not.</summary>
    public long CapacityBytes => Targets.CapacityBytes + Ports.CapacityBytes + Sources.CapacityBytes + Seen.CapacityBytes;

    public int KeyCount => Targets.Count + Ports.Count + Sources.Count;

    /// <summary>How many rows and fingerprints the tables hold: what the next window of the same sensor is sized for.</summary>
    public TableSizes Sizes => new(Targets.Count, Targets.V6Addresses, Ports.Count, Sources.Count, Sources.V6Addresses, Seen.Count);

    /// <summary>Times a table or the fingerprint set doubled while these tables filled (each a rehash of all it held).</summary>
    public int Growths => Targets.Growths + Ports.Growths + Sources.Growths + Seen.Growths;

    /// <summary>Makes room for <paramref name="sizes"/> up front, so a window like the last one never grows mid-window.</summary>
    public void Reserve(TableSizes sizes)
    {
        Targets.Reserve(sizes.Targets, sizes.TargetV6Addresses);
        Ports.Reserve(sizes.Ports);
        Sources.Reserve(sizes.Sources, sizes.SourceV6Addresses);
        Seen.Reserve(sizes.Fingerprints);
    }

    public void Reset(int sensorId, long windowStartNs)
    {
        SensorId = sensorId;
        WindowStartNs = windowStartNs;
        IsLate = false;
        IsEarly = false;
    }

    /// <summary>
    /// First stage of the prefetch: starts loading the home slots of the packet's IPv4 target
    /// and source rows and of its port row (a port table of a realistic mix holds tens of
    /// thousands of rows, more than the cache keeps), which a later <see cref="PrefetchEntries"/> and <see cref="Add(in RollupInput, in PacketKeys)"/> will read.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(in PacketKeys keys)
    {
        // An IPv6 address's key holds 0.0.0.0: a prefetch of a slot not needed, which costs
        // less than a branch on every packet.
        Targets.Stored.PrefetchHome(keys.TargetHash);
        Sources.Stored.PrefetchHome(keys.SourceHash);
        Ports.PrefetchHome(keys.PortHash);
    }

    /// <summary>
    /// Second stage, some packets after <see cref="Prefetch"/>: with the home slots in cache,
    /// starts loading the target, source and port entries they point to, so a packet of an existing
    /// row does not wait for its entry either; and, only when both rows look present (the one
    /// case <see cref="Add(in RollupInput, in PacketKeys)"/> may consult the fingerprint set), the fingerprint's slot. Most
    /// darknet packets make a new row and never need the set. An IPv6 row counts as present.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchEntries(in PacketKeys keys, in RollupInput packet)
    {
        bool present = Targets.Stored.PrefetchEntry(keys.TargetHash) | !keys.TargetV4;
        present &= Sources.Stored.PrefetchEntry(keys.SourceHash) | !keys.SourceV4;
        Ports.PrefetchEntry(keys.PortHash);
        if (present)
        {
            PrefetchFingerprint(packet, keys.Port);
        }
    }

    /// <summary>Starts loading the fingerprint slot of the packet's triple (<paramref name="port"/> is its port key), whether or not <see cref="Add(in RollupInput, in PacketKeys)"/> will need it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchFingerprint(in RollupInput packet, PortKey port) =>
        Seen.Prefetch(Triple(packet.Destination.Hash64(), packet.Source.Hash64(), port));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(in RollupInput packet) => Add(packet, new PacketKeys(packet));

    /// <summary>Adds a packet whose keys (<see cref="PacketKeys"/>, made from this packet) its caller has already worked out for its prefetches.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(in RollupInput packet, in PacketKeys keys)
    {
        PortKey port = keys.Port;

        // An entry remembers the other address of its first packet when that is a nonzero IPv4
        // address (0 stands for none), which is all it needs to recognise that triple later.
        uint source4 = keys.SourceV4 ? keys.Source.Address : 0;
        uint target4 = keys.TargetV4 ? keys.Target.Address : 0;
        long taken = 0;

        ref TargetStats target = ref Targets.GetValueRefOrAddDefault(packet.Destination, port, keys.TargetV4, keys.Target, keys.TargetHash, out bool targetExists);
        if (!targetExists)
        {
            target.FirstSource = source4;
            taken += TargetEntryBytes + (keys.TargetV4 ? 0 : V6AddressBytes);
        }

        ref SourceStats source = ref Sources.GetValueRefOrAddDefault(packet.Source, port, keys.SourceV4, keys.Source, keys.SourceHash, out bool sourceExists);
        if (!sourceExists)
        {
            source.FirstTarget = target4;
            taken += SourceEntryBytes + (keys.SourceV4 ? 0 : V6AddressBytes);
        }

        // Is (target, source, port) new to this partial? A new row makes it new; a row whose
        // first packet was this triple knows it; otherwise the fingerprint set decides. A triple
        // goes into the set only when no row remembers it, so its first packet on a new target
        // or source row (most packets of a scan) costs no fingerprint and no set lookup. (A row
        // made by this packet without an IPv4 address to remember fails both tests: the set decides.)
        bool newTriple;
        if ((!targetExists && source4 != 0) || (!sourceExists && target4 != 0))
        {
            newTriple = true;
        }
        else if ((source4 != 0 && target.FirstSource == source4) || (target4 != 0 && source.FirstTarget == target4))
        {
            newTriple = false;
        }
        else
        {
            newTriple = Seen.Add(Triple(packet.Destination.Hash64(), packet.Source.Hash64(), port));
            taken += newTriple ? FingerprintBytes : 0;
        }

        uint second = UnixSeconds.From(packet.TimestampNs);
        target.FirstSecond = targetExists ? Math.Min(target.FirstSecond, second) : second;
        target.LastSecond = targetExists ? Math.Max(target.LastSecond, second) : second;
        target.Packets++;
        target.Bytes += packet.IpBytes;
        target.Sources += newTriple ? 1U : 0;

        source.Packets++;
        source.Bytes += packet.IpBytes;
        source.Targets += newTriple ? 1U : 0;

        ref PortStats ports = ref Ports.GetValueRefOrAddDefault(port, keys.PortHash, out bool portExists);
        taken += portExists ? 0 : PortEntryBytes;
        ports.Packets++;
        ports.Bytes += packet.IpBytes;
        ports.Targets += targetExists ? 0U : 1;
        ports.Sources += sourceExists ? 0U : 1;

        ApproximateBytes += taken;
    }

    /// <summary>
    /// Merges one shard's partial of a window into the partials of the same window merged so
    /// far (<paramref name="merged"/>, one per shard, in arrival order), then appends it there.
    /// Target rows stay where they are: each shard owns its destinations, so no target row is in
    /// two partials. A source that sent to destinations of several shards has a row in each:
    /// the new partial's row is added into the merged one that holds the source (their distinct
    /// targets are disjoint, being of different shards) and removed from the new partial, and
    /// the port row, which counted that source in both, gives one back. The other sources keep
    /// their rows where they are, so no source table grows. Port rows add up in the first partial,
    /// and the new partial's port table is left empty. A key is then charged
    /// (<see cref="ApproximateBytes"/>) once in all, however many partials held it.
    /// </summary>
    public static void Merge(List<WindowTables> merged, WindowTables partial)
    {
        const int PrefetchDistance = 8;
        WindowTables first = merged[0];
        long released = 0;
        KeyTable<CompactAddressKey, SourceStats> theirs = partial.Sources.Stored;
        int count = theirs.Count;
        for (int i = 0; i < count; i++)
        {
            // An IPv4 key is the same 8 bytes in every table (an IPv6 one holds a per-table index).
            if (i + PrefetchDistance < count && !theirs.EntryAt(i + PrefetchDistance).Key.IsV6)
            {
                first.Sources.Stored.Prefetch(theirs.EntryAt(i + PrefetchDistance).Key);
            }

            ref TableEntry<CompactAddressKey, SourceStats> pair = ref theirs.EntryAt(i);
            bool v6 = pair.Key.IsV6;
            IpAddr address = v6 ? partial.Sources.AddressOf(pair.Key) : default;
            ref SourceStats source = ref Unsafe.NullRef<SourceStats>();
            for (int m = 0; m < merged.Count && Unsafe.IsNullRef(ref source); m++)
            {
                source = ref v6
                    ? ref merged[m].Sources.GetValueRefOrNullRef(address, pair.Key.Port)
                    : ref merged[m].Sources.Stored.GetValueRefOrNullRef(pair.Key);
            }

            if (Unsafe.IsNullRef(ref source))
            {
                continue;
            }

            source.Packets += pair.Value.Packets;
            source.Bytes += pair.Value.Bytes;
            source.Targets += pair.Value.Targets;
            ref PortStats ports = ref first.Ports.GetValueRefOrNullRef(pair.Key.Port);
            Debug.Assert(!Unsafe.IsNullRef(ref ports), "the merged port rows include every merged source row's port");
            ports.Sources--;

            // Every row counts at least one packet, so none marks a row taken.
            pair.Value.Packets = 0;
            released += SourceEntryBytes + (v6 ? V6AddressBytes : 0);
        }

        if (released != 0)
        {
            theirs.RemoveWhere(static (_, value) => value.Packets == 0);
        }

        long taken = 0;
        for (int i = 0; i < partial.Ports.Count; i++)
        {
            ref TableEntry<PortKey, PortStats> pair = ref partial.Ports.EntryAt(i);
            ref PortStats ports = ref first.Ports.GetValueRefOrAddDefault(pair.Key, out bool exists);
            taken += exists ? 0 : PortEntryBytes;
            released += PortEntryBytes;
            ports.Packets += pair.Value.Packets;
            ports.Bytes += pair.Value.Bytes;
            ports.Sources += pair.Value.Sources;
            ports.Targets += pair.Value.Targets;
        }

        partial.Ports.Clear();
        partial.ApproximateBytes -= released;
        first.ApproximateBytes += taken;
        merged.Add(partial);
    }

    /// <summary>Empties the tables and fingerprints, keeping their room.</summary>
    public void Clear()
    {
        Targets.Clear();
        Ports.Clear();
        Sources.Clear();
        Seen.Clear();
        ApproximateBytes = 0;
    }

    /// <summary>
    /// Gives the tables' slots and entries and the fingerprint slots (native memory) back at once, for tables the pool will not keep;
    /// the tables must not be used afterwards. Without it they go when the GC finalizes them.
    /// </summary>
    public void Dispose()
    {
        Disposed = true;
        Targets.Dispose();
        Ports.Dispose();
        Sources.Dispose();
        Seen.Dispose();
    }

    // A 64-bit fingerprint of (target, source, port) from the addresses' 64-bit hashes; folding
    // three inputs into 64 bits can collide, with the probability given on FingerprintSet.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Triple(ulong targetHash, ulong sourceHash, PortKey port) =>
        Net.IpAddr.Mix(targetHash ^ Net.IpAddr.Mix(sourceHash ^ TripleDomain ^ ((ulong)port.Packed << 29)));
}

/// <summary>Rows of each table (and IPv6 addresses of the target and source tables) and fingerprints of one window's tables.</summary>
public readonly record struct TableSizes(int Targets, int TargetV6Addresses, int Ports, int Sources, int SourceV6Addresses, int Fingerprints)
{
    /// <summary>The larger of each count.</summary>
    public static TableSizes Max(TableSizes a, TableSizes b) => new(
        Math.Max(a.Targets, b.Targets),
        Math.Max(a.TargetV6Addresses, b.TargetV6Addresses),
        Math.Max(a.Ports, b.Ports),
        Math.Max(a.Sources, b.Sources),
        Math.Max(a.SourceV6Addresses, b.SourceV6Addresses),
        Math.Max(a.Fingerprints, b.Fingerprints));
}
