using System.Runtime.CompilerServices;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// The three rollup tables of one sensor and one window, as one shard (or, after merging,
/// all shards) saw them, and the fingerprints that make their distinct counts exact.
/// A packet's target and port rows are kept by its destination's shard, its source row by its
/// source's shard (<see cref="TableSkip"/>); so is each distinct count, by the shard that sees
/// every packet it depends on: a target's sources and a port's targets by the destination's
/// shard, a source's targets and a port's sources by the source's shard. Each shard's partial
/// port row then holds a disjoint part of every count, and merging the partials is addition.
/// A port's distinct targets need no fingerprints of their own: the target table's key is
/// (destination, port), so a new target row is a new target of its port; likewise a new
/// source row is a new source of its port. Only (target, source, port) triples are kept.
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
    /// Bytes charged for what the window holds, as the memory cap counts them: each key at its
    /// table's full-load cost and 16 bytes per fingerprint. The arrays themselves
    /// (<see cref="CapacityBytes"/>) are up to about twice that just after a table doubles.
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
    /// First stage of the prefetch: starts loading the home slots of the packet's target and
    /// source rows, which a later <see cref="PrefetchEntries"/> and <see cref="Add"/> will read.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(in RollupInput packet)
    {
        var port = new PortKey(packet.Protocol, packet.Class, packet.Port);
        if ((packet.Skip & TableSkip.TargetAndPort) == 0)
        {
            Targets.Prefetch(packet.Destination, port);
        }

        if ((packet.Skip & TableSkip.Source) == 0)
        {
            Sources.Prefetch(packet.Source, port);
        }
    }

    /// <summary>
    /// Second stage, some packets after <see cref="Prefetch"/>: with the home slots in cache,
    /// starts loading the target and source entries they point to, so a packet of an existing
    /// row does not wait for its entry either; and, only when every row the packet touches
    /// looks present (the one case <see cref="Add"/> may consult the fingerprint set), the
    /// fingerprint's slot. Most darknet packets make a new row and never need the set.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchEntries(in RollupInput packet)
    {
        var port = new PortKey(packet.Protocol, packet.Class, packet.Port);
        bool present = true;
        if ((packet.Skip & TableSkip.TargetAndPort) == 0)
        {
            present = Targets.PrefetchEntry(packet.Destination, port);
        }

        if ((packet.Skip & TableSkip.Source) == 0)
        {
            present &= Sources.PrefetchEntry(packet.Source, port);
        }

        if (present)
        {
            PrefetchFingerprint(packet);
        }
    }

    /// <summary>Starts loading the fingerprint slot of the packet's triple, whether or not <see cref="Add"/> will need it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchFingerprint(in RollupInput packet) =>
        Seen.Prefetch(Triple(packet.Destination.Hash64(), packet.Source.Hash64(), new PortKey(packet.Protocol, packet.Class, packet.Port)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(in RollupInput packet)
    {
        var port = new PortKey(packet.Protocol, packet.Class, packet.Port);
        bool doTarget = (packet.Skip & TableSkip.TargetAndPort) == 0;
        bool doSource = (packet.Skip & TableSkip.Source) == 0;

        // An entry remembers the other address of its first packet when that is a nonzero IPv4
        // address (0 stands for none), which is all it needs to recognise that triple later.
        uint source4 = packet.Source.IsV4 ? packet.Source.V4 : 0;
        uint target4 = packet.Destination.IsV4 ? packet.Destination.V4 : 0;
        long taken = 0;

        ref TargetStats target = ref Unsafe.NullRef<TargetStats>();
        bool targetExists = true;
        if (doTarget)
        {
            target = ref Targets.GetValueRefOrAddDefault(packet.Destination, port, out targetExists);
            if (!targetExists)
            {
                target.FirstSource = source4;
                taken += TargetEntryBytes + (packet.Destination.IsV4 ? 0 : V6AddressBytes);
            }
        }

        ref SourceStats source = ref Unsafe.NullRef<SourceStats>();
        bool sourceExists = true;
        if (doSource)
        {
            source = ref Sources.GetValueRefOrAddDefault(packet.Source, port, out sourceExists);
            if (!sourceExists)
            {
                source.FirstTarget = target4;
                taken += SourceEntryBytes + (packet.Source.IsV4 ? 0 : V6AddressBytes);
            }
        }

        // Is (target, source, port) new to this partial? A new row makes it new; a row whose
        // first packet was this triple knows it; otherwise the fingerprint set decides. A triple
        // goes into the set only when no row remembers it, so its first packet on a new target
        // or source row (most packets of a scan) costs no fingerprint and no set lookup.
        bool newTriple;
        if ((!targetExists && source4 != 0) || (!sourceExists && target4 != 0))
        {
            newTriple = true;
        }
        else if ((targetExists && doTarget && source4 != 0 && target.FirstSource == source4)
            || (sourceExists && doSource && target4 != 0 && source.FirstTarget == target4))
        {
            newTriple = false;
        }
        else
        {
            newTriple = Seen.Add(Triple(packet.Destination.Hash64(), packet.Source.Hash64(), port));
            taken += newTriple ? FingerprintBytes : 0;
        }

        if (doTarget)
        {
            uint second = UnixSeconds.From(packet.TimestampNs);
            target.FirstSecond = targetExists ? Math.Min(target.FirstSecond, second) : second;
            target.LastSecond = targetExists ? Math.Max(target.LastSecond, second) : second;
            target.Packets++;
            target.Bytes += packet.IpBytes;
            target.Sources += newTriple ? 1U : 0;

            ref PortStats ports = ref Ports.GetValueRefOrAddDefault(port, out bool portExists);
            taken += portExists ? 0 : PortEntryBytes;
            ports.Packets++;
            ports.Bytes += packet.IpBytes;
            ports.Targets += targetExists ? 0U : 1;
        }

        if (doSource)
        {
            source.Packets++;
            source.Bytes += packet.IpBytes;
            source.Targets += newTriple ? 1U : 0;
            if (!sourceExists)
            {
                ref PortStats ports = ref Ports.GetValueRefOrAddDefault(port, out bool portExists);
                taken += portExists ? 0 : PortEntryBytes;
                ports.Sources++;
            }
        }

        ApproximateBytes += taken;
    }

    /// <summary>
    /// Adds the port table of another shard's partial of the same window into this one; the
    /// target and source tables stay where they are (each shard owns its keys of those), and
    /// the distinct counts of the partials are disjoint, so they add.
    /// </summary>
    public void TakePortsFrom(WindowTables other)
    {
        long taken = 0;
        for (int i = 0; i < other.Ports.Count; i++)
        {
            ref TableEntry<PortKey, PortStats> pair = ref other.Ports.EntryAt(i);
            ref PortStats ports = ref Ports.GetValueRefOrAddDefault(pair.Key, out bool exists);
            taken += exists ? 0 : PortEntryBytes;
            ports.Packets += pair.Value.Packets;
            ports.Bytes += pair.Value.Bytes;
            ports.Sources += pair.Value.Sources;
            ports.Targets += pair.Value.Targets;
        }

        other.Ports.Clear();
        ApproximateBytes += taken;
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
