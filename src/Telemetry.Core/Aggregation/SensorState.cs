using System.Collections.Concurrent;
using Telemetry.Core.Decode;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// One sensor's identity and running totals. Readers add to the totals once per batch
/// (never per packet); the metrics exporter reads them at scrape time.
/// </summary>
public sealed class SensorState
{
    private long _maxEventNs = long.MinValue;
    private long _flushEpoch;

    internal SensorState(int id, string name)
    {
        Id = id;
        Name = name;
    }

    public int Id { get; }

    public string Name { get; }

    public long[] ClassPackets { get; } = new long[TrafficClasses.Count];

    public long[] ClassBytes { get; } = new long[TrafficClasses.Count];

    /// <summary>Undecodable packets by <see cref="DecodeStatus"/> (index 0, Ok, stays 0).</summary>
    public long[] Undecodable { get; } = new long[DecodeStatuses.ReasonCount + 1];

    public long PacketsSeen;
    public long LatePackets;
    public long CaptureDrops;
    public long CaptureErrors;
    public long OpenConnections;
    public long ActiveSources;

    /// <summary>Environment.TickCount64 of the last batch handed to the shards.</summary>
    public long LastDispatchTicks;

    /// <summary>Set when batches were dispatched since the last flush of all windows.</summary>
    public int HasUnflushedData;

    /// <summary>The latest capture timestamp seen from this sensor.</summary>
    public long MaxEventNs => Volatile.Read(ref _maxEventNs);

    public long FlushEpoch => Volatile.Read(ref _flushEpoch);

    internal long NextFlushEpoch() => Interlocked.Increment(ref _flushEpoch);

    internal void ObserveEvent(long timestampNs)
    {
        long current = Volatile.Read(ref _maxEventNs);
        while (timestampNs > current)
        {
            long seen = Interlocked.CompareExchange(ref _maxEventNs, timestampNs, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}

/// <summary>Maps sensor names to dense ids; ids index the shards' per-sensor arrays.</summary>
public sealed class SensorRegistry
{
    private readonly ConcurrentDictionary<string, SensorState> _byName = new(StringComparer.Ordinal);
    private readonly SensorState?[] _byId;
    private readonly Lock _gate = new();
    private int _count;

    public SensorRegistry(int capacity)
    {
        _byId = new SensorState?[capacity];
    }

    public int Capacity => _byId.Length;

    public int Count => Volatile.Read(ref _count);

    public SensorState GetOrAdd(string name)
    {
        if (_byName.TryGetValue(name, out SensorState? state))
        {
            return state;
        }

        lock (_gate)
        {
            if (_byName.TryGetValue(name, out state))
            {
                return state;
            }

            if (_count == _byId.Length)
            {
                throw new InvalidOperationException($"more than {_byId.Length} sensors; raise Aggregation:MaxSensors");
            }

            state = new SensorState(_count, name);
            _byId[_count] = state;
            _byName[name] = state;
            Volatile.Write(ref _count, _count + 1);
            return state;
        }
    }

    public SensorState this[int id] => _byId[id] ?? throw new ArgumentOutOfRangeException(nameof(id));

    public IEnumerable<SensorState> All
    {
        get
        {
            int count = Count;
            for (int i = 0; i < count; i++)
            {
                yield return _byId[i]!;
            }
        }
    }
}
