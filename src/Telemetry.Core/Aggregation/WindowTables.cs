using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// The three rollup tables of one sensor and one window, as one shard (or, after merging,
/// all shards) saw them.
/// </summary>
public sealed class WindowTables
{
    /// <summary>Approximate bytes of one dictionary entry of each table (key, value, hash and link).</summary>
    internal const int TargetEntryBytes = 88;
    internal const int PortEntryBytes = 96;
    internal const int SourceEntryBytes = 72;

    public WindowTables(int sensorId, long windowStartNs)
    {
        SensorId = sensorId;
        WindowStartNs = windowStartNs;
    }

    public int SensorId { get; private set; }

    public long WindowStartNs { get; private set; }

    /// <summary>Holds packets that arrived after the window had closed.</summary>
    public bool IsLate { get; set; }

    /// <summary>Closed before the watermark passed it, because memory ran past its cap.</summary>
    public bool IsEarly { get; set; }

    public Dictionary<AddressPortKey, TargetStats> Targets { get; } = [];

    public Dictionary<PortKey, PortStats> Ports { get; } = [];

    public Dictionary<AddressPortKey, SourceStats> Sources { get; } = [];

    /// <summary>Approximate heap bytes held: entries plus distinct-count storage.</summary>
    public long ApproximateBytes { get; private set; }

    public int KeyCount => Targets.Count + Ports.Count + Sources.Count;

    public void Reset(int sensorId, long windowStartNs)
    {
        SensorId = sensorId;
        WindowStartNs = windowStartNs;
        IsLate = false;
        IsEarly = false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(in RollupInput packet)
    {
        var port = new PortKey(packet.Protocol, packet.Class, packet.Port);
        ulong targetHash = packet.Destination.Hash64();
        long taken = 0;

        if ((packet.Skip & TableSkip.TargetAndPort) == 0)
        {
            ulong sourceHash = packet.Source.Hash64();
            ref TargetStats target = ref CollectionsMarshal.GetValueRefOrAddDefault(Targets, new AddressPortKey(packet.Destination, port), out bool exists);
            if (!exists)
            {
                target.FirstNs = packet.TimestampNs;
                target.LastNs = packet.TimestampNs;
                taken += TargetEntryBytes;
            }
            else
            {
                target.FirstNs = Math.Min(target.FirstNs, packet.TimestampNs);
                target.LastNs = Math.Max(target.LastNs, packet.TimestampNs);
            }

            target.Packets++;
            target.Bytes += packet.IpBytes;
            taken += target.Sources.Add(sourceHash);

            ref PortStats ports = ref CollectionsMarshal.GetValueRefOrAddDefault(Ports, port, out exists);
            if (!exists)
            {
                taken += PortEntryBytes;
            }

            ports.Packets++;
            ports.Bytes += packet.IpBytes;
            taken += ports.Sources.Add(sourceHash);
            taken += ports.Targets.Add(targetHash);
        }

        if ((packet.Skip & TableSkip.Source) == 0)
        {
            ref SourceStats source = ref CollectionsMarshal.GetValueRefOrAddDefault(Sources, new AddressPortKey(packet.Source, port), out bool exists);
            if (!exists)
            {
                taken += SourceEntryBytes;
            }

            source.Packets++;
            source.Bytes += packet.IpBytes;
            taken += source.Targets.Add(targetHash);
        }

        ApproximateBytes += taken;
    }

    /// <summary>
    /// Moves the port table of another shard's partial of the same window into this one; the
    /// target and source tables stay where they are (each shard owns its keys of those).
    /// </summary>
    public void TakePortsFrom(WindowTables other)
    {
        long taken = 0;
        foreach (KeyValuePair<PortKey, PortStats> pair in other.Ports)
        {
            ref PortStats ports = ref CollectionsMarshal.GetValueRefOrAddDefault(Ports, pair.Key, out bool exists);
            taken += exists ? 0 : PortEntryBytes;
            ports.Packets += pair.Value.Packets;
            ports.Bytes += pair.Value.Bytes;
            taken += ports.Sources.Merge(pair.Value.Sources);
            taken += ports.Targets.Merge(pair.Value.Targets);
            pair.Value.Sources.Release();
            pair.Value.Targets.Release();
        }

        other.Ports.Clear();
        ApproximateBytes += taken;
    }

    /// <summary>Returns every pooled distinct-count array and empties the tables, keeping their capacity.</summary>
    public void Clear()
    {
        // Release works on a copy of each value: it hands the copy's arrays back to the pool,
        // and the dictionaries are cleared right after, so nothing keeps the stale references.
        foreach (TargetStats value in Targets.Values)
        {
            value.Sources.Release();
        }

        foreach (PortStats value in Ports.Values)
        {
            value.Sources.Release();
            value.Targets.Release();
        }

        foreach (SourceStats value in Sources.Values)
        {
            value.Targets.Release();
        }

        Targets.Clear();
        Ports.Clear();
        Sources.Clear();
        ApproximateBytes = 0;
    }
}
