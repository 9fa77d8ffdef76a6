using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// Runs the aggregation shards and the flusher. Readers hand batches to shards (routed by
/// destination hash); shards close windows as watermarks pass; the flusher merges the
/// shards' partials of a window once every shard has moved past it, and writes the result
/// to the sink about once per <see cref="AggregationOptions.FlushInterval"/>.
/// </summary>
public sealed partial class AggregationEngine : IAsyncDisposable
{
    private readonly AggregationOptions _options;
    private readonly IRollupSink _sink;
    private readonly ILogger _logger;
    private readonly AggregatorShard[] _shards;
    private readonly ConcurrentBag<ShardBatch> _batches = [];
    // Idle table sets, one pool per shard: a shard's partials differ in size from another's
    // (its share of the sources and targets), so a set goes back to the shard that filled it and
    // does not have to grow again for that shard's next window.
    private readonly ConcurrentBag<WindowTables>[] _tables;
    private readonly Dictionary<(int Sensor, long Window), Pending> _pending = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _shardsDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task[] _shardTasks = [];
    private Task _flusher = Task.CompletedTask;
    private Task _idle = Task.CompletedTask;
    private int _completed;
    private long _pooledBytes;
    private volatile PortTotal[] _topPorts = [];
    private long _topWindowStart = long.MinValue;
    private readonly Dictionary<(byte Protocol, ushort Port), long> _topAccumulator = [];

    public AggregationEngine(AggregationOptions options, IRollupSink sink, ILogger<AggregationEngine> logger)
    {
        _options = options;
        _sink = sink;
        _logger = logger;
        WindowNs = options.Window.Ticks * 100;
        LatenessNs = options.AllowedLateness.Ticks * 100;
        Sensors = new SensorRegistry(options.MaxSensors);
        int shards = options.EffectiveShards;
        _shards = new AggregatorShard[shards];
        _tables = new ConcurrentBag<WindowTables>[shards];
        for (int i = 0; i < shards; i++)
        {
            _tables[i] = [];
            _shards[i] = new AggregatorShard(this, i, options.MaxSensors, WindowNs, options.MaxMemoryBytes / shards, options.ShardQueueBatches);
        }

        // Room for every shard to hand over a few windows per sensor before it waits on the flusher.
        Closed = Channel.CreateBounded<ClosedWindow>(new BoundedChannelOptions(Math.Max(64, shards * 16))
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public SensorRegistry Sensors { get; }

    public HealthAccumulator Health { get; } = new();

    public long WindowNs { get; }

    public long LatenessNs { get; }

    public int ShardCount => _shards.Length;

    public int BatchSize => _options.BatchSize;

    internal Channel<ClosedWindow> Closed { get; }

    /// <summary>Keys held in open windows across shards.</summary>
    public long OpenKeys => _shards.Sum(s => s.KeyCount);

    /// <summary>Approximate bytes held by open windows across shards.</summary>
    public long OpenBytes => _shards.Sum(s => s.MemoryBytes);

    public long EarlyFlushes => _shards.Sum(s => Volatile.Read(ref s.EarlyFlushes));

    public int PendingWindows { get; private set; }

    public long FlushFailures;

    /// <summary>Table sets built because the pool had none to lend: each one grows its tables from empty.</summary>
    public long TableSetsBuilt;

    /// <summary>
    /// Times a window's table or fingerprint set doubled while the window filled. Each window
    /// starts at the size of its sensor's last window in the shard, so a count that keeps rising
    /// means windows keep outgrowing the one before them.
    /// </summary>
    public long TableGrowths;

    /// <summary>Packets per (protocol, port) in the newest flushed window, top 20 plus "other" (port -1).</summary>
    public IReadOnlyList<PortTotal> TopPorts => _topPorts;

    public void Start()
    {
        _shardTasks = new Task[_shards.Length];
        for (int i = 0; i < _shards.Length; i++)
        {
            AggregatorShard shard = _shards[i];
            _shardTasks[i] = Task.Factory.StartNew(shard.RunAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        }

        _flusher = Task.Run(FlushLoopAsync);
        _idle = Task.Run(IdleLoopAsync);
    }

    public ShardBatch RentBatch() => _batches.TryTake(out ShardBatch? batch) ? batch : new ShardBatch(_options.BatchSize);

    internal void ReturnBatch(ShardBatch batch)
    {
        batch.Reset();
        _batches.Add(batch);
    }

    internal WindowTables RentTables(int shard, int sensorId, long windowStartNs)
    {
        // The shard's own sets first; another shard's idle set is still better than a new one.
        for (int i = 0; i < _tables.Length; i++)
        {
            if (_tables[(shard + i) % _tables.Length].TryTake(out WindowTables? tables))
            {
                Interlocked.Add(ref _pooledBytes, -tables.CapacityBytes);
                tables.Reset(sensorId, windowStartNs);
                tables.Shard = shard;
                return tables;
            }
        }

        Interlocked.Increment(ref TableSetsBuilt);
        return new WindowTables(sensorId, windowStartNs) { Shard = shard };
    }

    internal void ReturnTables(WindowTables tables)
    {
        tables.Clear();

        // Enough for its shard to have an open, a closing and a flushing window of every sensor
        // seen, so a steady stream of windows reuses tables instead of growing new ones; and no
        // more room kept idle than the open windows may hold, so the pool cannot double memory.
        long bytes = tables.CapacityBytes;
        ConcurrentBag<WindowTables> pool = _tables[tables.Shard];
        if (pool.Count < Math.Max(8, 3 * Sensors.Count)
            && Interlocked.Read(ref _pooledBytes) + bytes <= _options.MaxMemoryBytes)
        {
            Interlocked.Add(ref _pooledBytes, bytes);
            pool.Add(tables);
        }
        else
        {
            tables.Dispose();
        }
    }

    /// <summary>
    /// The shard that owns an address: every packet goes to its destination's shard, so a
    /// target row and every (target, source, port) triple live in one shard only, and each
    /// packet is one item for one shard. Source and port rows are merged at flush.
    /// </summary>
    public int ShardOf(in Telemetry.Core.Net.IpAddr address) =>
        _shards.Length == 1 ? 0 : (int)((uint)(address.Hash64() >> 32) % (uint)_shards.Length);

    public ValueTask DispatchAsync(int shard, ShardBatch batch, CancellationToken cancellationToken) =>
        _shards[shard].Input.Writer.WriteAsync(batch, cancellationToken);

    public static void SourceStarted(SensorState sensor) => Interlocked.Increment(ref sensor.ActiveSources);

    /// <summary>When a sensor's last source ends, its open windows are flushed.</summary>
    public async Task SourceEndedAsync(SensorState sensor, CancellationToken cancellationToken)
    {
        if (Interlocked.Decrement(ref sensor.ActiveSources) == 0)
        {
            await FlushSensorAsync(sensor, cancellationToken);
        }
    }

    /// <summary>Asks every shard to close all open windows of <paramref name="sensor"/>.</summary>
    public async Task FlushSensorAsync(SensorState sensor, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _completed) != 0)
        {
            return;
        }

        Interlocked.Exchange(ref sensor.HasUnflushedData, 0);
        long epoch = sensor.NextFlushEpoch();
        try
        {
            for (int i = 0; i < _shards.Length; i++)
            {
                ShardBatch batch = RentBatch();
                batch.Sensor = sensor;
                batch.FlushEpoch = epoch;
                await _shards[i].Input.Writer.WriteAsync(batch, cancellationToken);
            }
        }
        catch (ChannelClosedException)
        {
            // The engine is completing: every window is being closed anyway.
        }
    }

    /// <summary>Closes every window, writes everything to the sink and stops.</summary>
    public async Task CompleteAsync()
    {
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            await _flusher;
            return;
        }

        foreach (AggregatorShard shard in _shards)
        {
            shard.Input.Writer.TryComplete();
        }

        await Task.WhenAll(_shardTasks);
        _shardsDone.TrySetResult();
        await _flusher;
        await _stop.CancelAsync();
        try
        {
            await _idle;
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task IdleLoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        long idleMs = (long)_options.IdleFlush.TotalMilliseconds;
        while (await timer.WaitForNextTickAsync(_stop.Token))
        {
            long now = Environment.TickCount64;
            foreach (SensorState sensor in Sensors.All)
            {
                if (Volatile.Read(ref sensor.HasUnflushedData) != 0 && now - Volatile.Read(ref sensor.LastDispatchTicks) > idleMs)
                {
                    await FlushSensorAsync(sensor, _stop.Token);
                }
            }
        }
    }

    private async Task FlushLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.FlushInterval);
        Task tick = timer.WaitForNextTickAsync().AsTask();
        while (true)
        {
            await Task.WhenAny(tick, _shardsDone.Task);
            bool final = _shardsDone.Task.IsCompleted;
            if (tick.IsCompleted)
            {
                tick = timer.WaitForNextTickAsync().AsTask();
            }

            await FlushOnceAsync(final);
            if (final)
            {
                return;
            }
        }
    }

    private async Task FlushOnceAsync(bool final)
    {
        // Read the shards' progress before draining: a shard hands over its partials before it
        // publishes progress, so every partial that progress covers is already in the channel.
        int sensorCount = Sensors.Count;
        var minWatermark = new long[sensorCount];
        var minEpoch = new long[sensorCount];
        for (int s = 0; s < sensorCount; s++)
        {
            minWatermark[s] = long.MaxValue;
            minEpoch[s] = long.MaxValue;
            foreach (AggregatorShard shard in _shards)
            {
                minWatermark[s] = Math.Min(minWatermark[s], shard.ProgressWatermark(s));
                minEpoch[s] = Math.Min(minEpoch[s], shard.ProgressEpoch(s));
            }
        }

        var ready = new List<WindowTables>();
        while (Closed.Reader.TryRead(out ClosedWindow closed))
        {
            WindowTables tables = closed.Tables;
            if (tables.IsEarly)
            {
                ready.Add(tables);
                continue;
            }

            var key = (tables.SensorId, tables.WindowStartNs);
            if (_pending.TryGetValue(key, out Pending? pending))
            {
                // Shards own disjoint destinations, so target rows never meet; source rows of a
                // source seen by several shards and port rows do, and merge (WindowTables.Merge).
                // A second partial from the same shard (late packets, a window reopened after a
                // flush) counted against a fresh fingerprint set, so it keeps its own rows.
                if (!pending.HasMerged(tables.Shard))
                {
                    WindowTables.Merge(pending.Merged, tables);
                }

                pending.Parts.Add(tables);
                pending.RequiredEpoch = Math.Max(pending.RequiredEpoch, closed.ClosedByEpoch);
            }
            else
            {
                _pending.Add(key, new Pending(tables, closed.ClosedByEpoch));
            }
        }

        foreach (KeyValuePair<(int Sensor, long Window), Pending> pair in _pending)
        {
            int s = pair.Key.Sensor;
            bool complete = final
                || (s < sensorCount && minWatermark[s] >= pair.Key.Window + WindowNs)
                || (s < sensorCount && pair.Value.RequiredEpoch > 0 && minEpoch[s] >= pair.Value.RequiredEpoch);
            if (complete)
            {
                ready.AddRange(pair.Value.Parts);
            }
        }

        foreach (WindowTables tables in ready)
        {
            if (!tables.IsEarly)
            {
                _pending.Remove((tables.SensorId, tables.WindowStartNs));
            }
        }

        PendingWindows = _pending.Count;
        List<HealthRow> health = Health.TakeAll();
        if (ready.Count == 0 && health.Count == 0)
        {
            return;
        }

        UpdateTopPorts(ready);
        var batch = new RollupBatch(Sensors, WindowNs, ready, health);
        var stopwatch = Stopwatch.StartNew();
        try
        {
            await _sink.WriteAsync(batch, CancellationToken.None);
            LogFlushed(ready.Count, health.Count, stopwatch.Elapsed.TotalMilliseconds);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Interlocked.Increment(ref FlushFailures);
            LogFlushFailed(ex, ready.Count);
        }
        finally
        {
            foreach (WindowTables tables in ready)
            {
                ReturnTables(tables);
            }
        }
    }

    private void UpdateTopPorts(List<WindowTables> ready)
    {
        bool changed = false;
        foreach (WindowTables tables in ready)
        {
            if (tables.WindowStartNs < _topWindowStart)
            {
                continue;
            }

            if (tables.WindowStartNs > _topWindowStart)
            {
                _topWindowStart = tables.WindowStartNs;
                _topAccumulator.Clear();
            }

            foreach (KeyValuePair<PortKey, PortStats> pair in tables.Ports)
            {
                var key = (pair.Key.Protocol, pair.Key.Port);
                _topAccumulator[key] = _topAccumulator.GetValueOrDefault(key) + (long)pair.Value.Packets;
            }

            changed = true;
        }

        if (!changed)
        {
            return;
        }

        const int TopN = 20;
        var ordered = _topAccumulator.OrderByDescending(p => p.Value).ToList();
        var top = new List<PortTotal>(TopN + 1);
        long other = 0;
        for (int i = 0; i < ordered.Count; i++)
        {
            if (i < TopN)
            {
                top.Add(new PortTotal(ordered[i].Key.Protocol, ordered[i].Key.Port, ordered[i].Value));
            }
            else
            {
                other += ordered[i].Value;
            }
        }

        top.Add(new PortTotal(0, -1, other));
        _topPorts = [.. top];
    }

    public async ValueTask DisposeAsync()
    {
        await CompleteAsync();
        _stop.Dispose();
        foreach (ConcurrentBag<WindowTables> pool in _tables)
        {
            while (pool.TryTake(out WindowTables? tables))
            {
                tables.Dispose();
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Flushed {Windows} windows and {Health} health rows in {Milliseconds:F1} ms")]
    private partial void LogFlushed(int windows, int health, double milliseconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Flush of {Windows} windows failed; their rows are lost")]
    private partial void LogFlushFailed(Exception exception, int windows);

    private sealed class Pending(WindowTables first, long requiredEpoch)
    {
        /// <summary>The shards' partials of one window; the first holds the merged port table.</summary>
        public List<WindowTables> Parts { get; } = [first];

        /// <summary>The first partial of each shard, merged (<see cref="WindowTables.Merge"/>); the first holds the port table.</summary>
        public List<WindowTables> Merged { get; } = [first];

        public bool HasMerged(int shard)
        {
            foreach (WindowTables part in Merged)
            {
                if (part.Shard == shard)
                {
                    return true;
                }
            }

            return false;
        }

        public long RequiredEpoch { get; set; } = requiredEpoch;
    }
}

/// <summary>Packets for one port in the newest window; <see cref="Port"/> -1 is everything outside the top N.</summary>
public readonly record struct PortTotal(byte Protocol, int Port, long Packets);
