using global::Prometheus;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;

namespace Telemetry.Prometheus;

/// <summary>
/// The service's Prometheus metrics. Packet totals live in Core's per-sensor counters and are
/// copied into the exported counters at scrape time, so the hot path never touches a
/// Prometheus object. Labels are sensor, class, reason, table; never addresses, and ports only
/// in the bounded top-N gauge.
/// </summary>
public sealed class TelemetryMetrics : ITelemetryEvents
{
    public const int TopPorts = 20;

    private readonly Counter _packets;
    private readonly Counter _bytes;
    private readonly Counter _seen;
    private readonly Counter _undecodable;
    private readonly Counter _late;
    private readonly Counter _drops;
    private readonly Counter _captureErrors;
    private readonly Gauge _connections;
    private readonly Gauge _watermarkLag;
    private readonly Gauge _lastPacket;
    private readonly Counter _rowsFlushed;
    private readonly Histogram _flushSeconds;
    private readonly Counter _flushFailures;
    private readonly Gauge _keys;
    private readonly Gauge _bytesHeld;
    private readonly Gauge _pending;
    private readonly Counter _earlyFlushes;
    private readonly Counter _tableSetsBuilt;
    private readonly Counter _tableGrowths;
    private readonly Gauge _topPorts;
    private readonly HashSet<(string, string)> _topLabels = [];
    private readonly Lock _topGate = new();
    private AggregationEngine? _engine;

    public TelemetryMetrics(CollectorRegistry registry)
    {
        Registry = registry;
        MetricFactory f = Metrics.WithCustomRegistry(registry);
        _packets = f.CreateCounter("telemetry_packets_total", "Decoded packets by sensor and traffic class.", "sensor", "class");
        _bytes = f.CreateCounter("telemetry_ip_bytes_total", "IP bytes (from the IP header) by sensor and traffic class.", "sensor", "class");
        _seen = f.CreateCounter("telemetry_packets_seen_total", "Packet records read from captures, decodable or not.", "sensor");
        _undecodable = f.CreateCounter("telemetry_undecodable_packets_total", "Packets that could not be decoded, by reason.", "sensor", "reason");
        _late = f.CreateCounter("telemetry_late_packets_total", "Packets that arrived after their window closed; written as extra partial rows.", "sensor");
        _drops = f.CreateCounter("telemetry_capture_drops_total", "Packets the capturing interface reports dropped (pcapng interface statistics).", "sensor");
        _captureErrors = f.CreateCounter("telemetry_capture_errors_total", "Capture streams closed because they were malformed, by kind.", "sensor", "kind");
        _connections = f.CreateGauge("telemetry_sensor_connections", "Open sensor streams (TCP connections, files, stdin) per sensor.", "sensor");
        _watermarkLag = f.CreateGauge("telemetry_watermark_lag_seconds", "Wall clock minus the sensor's event-time watermark.", "sensor");
        _lastPacket = f.CreateGauge("telemetry_sensor_last_packet_timestamp_seconds", "Capture timestamp of the newest packet from the sensor.", "sensor");
        _rowsFlushed = f.CreateCounter("telemetry_rows_flushed_total", "Rows written to the sink, by table.", "table");
        _flushSeconds = f.CreateHistogram("telemetry_flush_duration_seconds", "Time to write one insert, by table.", new HistogramConfiguration
        {
            LabelNames = ["table"],
            Buckets = Histogram.ExponentialBuckets(0.005, 2, 14),
        });
        _flushFailures = f.CreateCounter("telemetry_flush_failures_total", "Failed insert attempts (each is retried), by table.", "table");
        _keys = f.CreateGauge("telemetry_aggregation_keys", "Keys held in open windows (all three tables, all shards).");
        _bytesHeld = f.CreateGauge("telemetry_aggregation_bytes", "Approximate bytes held by open windows.");
        _pending = f.CreateGauge("telemetry_aggregation_pending_windows", "Closed windows waiting for every shard before they are written.");
        _earlyFlushes = f.CreateCounter("telemetry_aggregation_early_flushes_total", "Windows written early because open windows reached the memory cap.");
        _tableSetsBuilt = f.CreateCounter("telemetry_aggregation_table_sets_built_total", "Window table sets built because no idle one was pooled; each grows its tables from empty, so a steady rise means more windows overlap than the pool covers.");
        _tableGrowths = f.CreateCounter("telemetry_aggregation_table_growths_total", "Times a window's table or fingerprint set doubled while it filled; windows start at the size of their sensor's last one, so this rises only while traffic grows.");
        _topPorts = f.CreateGauge("telemetry_top_port_packets", $"Packets per destination port in the newest flushed window: the top {TopPorts}, plus port=\"other\".", "proto", "port");
        registry.AddBeforeCollectCallback(Collect);
    }

    public CollectorRegistry Registry { get; }

    /// <summary>Connects the engine whose counters are exported.</summary>
    public void Attach(AggregationEngine engine) => _engine = engine;

    public void CaptureError(string sensor, string kind) => _captureErrors.WithLabels(sensor, kind).Inc();

    public void RowsFlushed(string table, long rows, TimeSpan elapsed)
    {
        _rowsFlushed.WithLabels(table).Inc(rows);
        _flushSeconds.WithLabels(table).Observe(elapsed.TotalSeconds);
    }

    public void FlushFailed(string table) => _flushFailures.WithLabels(table).Inc();

    private void Collect()
    {
        AggregationEngine? engine = _engine;
        if (engine is null)
        {
            return;
        }

        double now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        foreach (SensorState sensor in engine.Sensors.All)
        {
            string name = sensor.Name;
            for (int c = 0; c < TrafficClasses.Count; c++)
            {
                long packets = Volatile.Read(ref sensor.ClassPackets[c]);
                if (packets != 0)
                {
                    string cls = TrafficClasses.Names[c];
                    _packets.WithLabels(name, cls).IncTo(packets);
                    _bytes.WithLabels(name, cls).IncTo(Volatile.Read(ref sensor.ClassBytes[c]));
                }
            }

            for (int r = 1; r < sensor.Undecodable.Length; r++)
            {
                long count = Volatile.Read(ref sensor.Undecodable[r]);
                if (count != 0)
                {
                    _undecodable.WithLabels(name, ((DecodeStatus)r).Name()).IncTo(count);
                }
            }

            _seen.WithLabels(name).IncTo(Volatile.Read(ref sensor.PacketsSeen));
            _late.WithLabels(name).IncTo(Volatile.Read(ref sensor.LatePackets));
            _drops.WithLabels(name).IncTo(Volatile.Read(ref sensor.CaptureDrops));
            _connections.WithLabels(name).Set(Volatile.Read(ref sensor.OpenConnections));
            long maxEvent = sensor.MaxEventNs;
            if (maxEvent != long.MinValue)
            {
                double watermark = (maxEvent - engine.LatenessNs) / 1e9;
                _watermarkLag.WithLabels(name).Set(now - watermark);
                _lastPacket.WithLabels(name).Set(maxEvent / 1e9);
            }
        }

        _keys.Set(engine.OpenKeys);
        _bytesHeld.Set(engine.OpenBytes);
        _pending.Set(engine.PendingWindows);
        _earlyFlushes.IncTo(engine.EarlyFlushes);
        _tableSetsBuilt.IncTo(Interlocked.Read(ref engine.TableSetsBuilt));
        _tableGrowths.IncTo(Interlocked.Read(ref engine.TableGrowths));
        CollectTopPorts(engine.TopPorts);
    }

    private void CollectTopPorts(IReadOnlyList<PortTotal> top)
    {
        lock (_topGate)
        {
            var current = new HashSet<(string, string)>();
            foreach (PortTotal total in top)
            {
                var labels = total.Port < 0 ? ("all", "other") : (ProtocolName(total.Protocol), total.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
                current.Add(labels);
                _topPorts.WithLabels(labels.Item1, labels.Item2).Set(total.Packets);
            }

            foreach ((string, string) stale in _topLabels)
            {
                if (!current.Contains(stale))
                {
                    _topPorts.RemoveLabelled(stale.Item1, stale.Item2);
                }
            }

            _topLabels.Clear();
            _topLabels.UnionWith(current);
        }
    }

    private static string ProtocolName(byte protocol) => protocol switch
    {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        58 => "icmpv6",
        _ => protocol.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
