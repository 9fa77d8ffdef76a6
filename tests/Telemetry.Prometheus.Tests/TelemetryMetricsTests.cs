using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;
using global::Prometheus;
using Microsoft.Extensions.Logging.Abstractions;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Ingest;
using Telemetry.Testing;
using static Telemetry.Testing.PacketBuilder;

namespace Telemetry.Prometheus.Tests;

public partial class TelemetryMetricsTests
{
    private const long T0 = 1_763_596_800_000_000_000; // 2025-11-20 00:00:00 UTC
    private const long Second = 1_000_000_000;

    /// <summary>Notes the windows the engine flushes (the batch's tables are recycled once WriteAsync returns, so nothing else is kept).</summary>
    private sealed class CollectingSink : IRollupSink
    {
        private readonly ConcurrentDictionary<long, long> _packets = new();

        public Task WriteAsync(RollupBatch batch, CancellationToken cancellationToken)
        {
            foreach (WindowTables window in batch.Windows)
            {
                long packets = window.Ports.Values.Sum(p => (long)p.Packets);
                _packets.AddOrUpdate(window.WindowStartNs, packets, (_, old) => old + packets);
            }

            return Task.CompletedTask;
        }

        public bool HasWindow(long windowStartNs) => _packets.ContainsKey(windowStartNs);
    }

    private sealed class Rig : IAsyncDisposable
    {
        public Rig(int shards = 2)
        {
            Registry = global::Prometheus.Metrics.NewCustomRegistry();
            Metrics = new TelemetryMetrics(Registry);
            Engine = new AggregationEngine(
                new AggregationOptions { Shards = shards, FlushInterval = TimeSpan.FromMilliseconds(50), IdleFlush = TimeSpan.FromHours(1) },
                Sink,
                NullLogger<AggregationEngine>.Instance);
            Metrics.Attach(Engine);
            Ingestor = new CaptureIngestor(Engine, Metrics, NullLogger<CaptureIngestor>.Instance);
            Engine.Start();
        }

        public CollectorRegistry Registry { get; }

        public TelemetryMetrics Metrics { get; }

        public CollectingSink Sink { get; } = new();

        public AggregationEngine Engine { get; }

        public CaptureIngestor Ingestor { get; }

        /// <summary>Reads a capture as one source of <paramref name="sensor"/>; with <paramref name="end"/> the sensor's windows are flushed.</summary>
        public async Task<IngestResult> IngestAsync(string sensor, byte[] capture, bool end = true)
        {
            SensorState state = Engine.Sensors.GetOrAdd(sensor);
            AggregationEngine.SourceStarted(state);
            IngestResult result = await Ingestor.IngestAsync(new MemoryStream(capture), state, "test capture", CancellationToken.None);
            if (end)
            {
                await Engine.SourceEndedAsync(state, CancellationToken.None);
            }

            return result;
        }

        public async Task<(string Text, List<Sample> Samples)> ScrapeAsync()
        {
            using var stream = new MemoryStream();
            await Registry.CollectAndExportAsTextAsync(stream);
            string text = Encoding.UTF8.GetString(stream.ToArray());
            return (text, Exposition.Parse(text));
        }

        public async ValueTask DisposeAsync() => await Engine.DisposeAsync();
    }

    private static TestPacket Eth(long ts, byte[] ip) => new(1, Ethernet(ip), ts);

    private static byte[] Syn(string src, string dst, ushort port) => Ipv4(src, dst, 6, Tcp(40000, port, PacketBuilder.Syn));

    /// <summary>A capture with known counts per class (and per undecodable reason), all in one minute.</summary>
    private static (byte[] Capture, Dictionary<string, (int Packets, long Bytes)> Classes, int Records) Mixed()
    {
        var packets = new List<(string Class, byte[] Ip)>();
        void Add(string cls, int count, Func<int, byte[]> make)
        {
            for (int i = 0; i < count; i++)
            {
                packets.Add((cls, make(i)));
            }
        }

        Add("tcp_syn", 30, i => Syn($"203.0.113.{i + 1}", "198.51.100.7", 23));
        Add("tcp_synack", 5, i => Ipv4("192.0.2.9", $"198.51.100.{i + 1}", 6, Tcp(80, 40000, (byte)(PacketBuilder.Syn | Ack), payload: i)));
        Add("tcp_rst", 7, i => Ipv4("192.0.2.10", "198.51.100.8", 6, Tcp(443, 50000, (byte)(Rst | (i % 2 == 0 ? Ack : 0)))));
        Add("tcp_other", 3, i => Ipv4("192.0.2.11", "198.51.100.8", 6, Tcp(443, 22, i == 0 ? Ack : i == 1 ? (byte)0 : (byte)(Fin | Psh | Urg))));
        Add("udp", 10, i => Ipv4("192.0.2.12", "198.51.100.9", 17, Udp(5353, (ushort)(1900 + i), payload: 20 + i)));
        Add("icmp_request", 4, i => Ipv4("192.0.2.13", "198.51.100.9", 1, Icmp(8, 0)));
        Add("icmp_backscatter", 6, i => Ipv4("192.0.2.14", "198.51.100.9", 1, Icmp(3, (byte)(i % 4), 28)));
        Add("icmp_other", 2, i => Ipv4("192.0.2.15", "198.51.100.9", 1, Icmp(9, 0)));
        Add("fragment", 2, i => Ipv4("192.0.2.16", "198.51.100.9", 17, new byte[64], ipId: 9, fragmentOffset: 8 * (i + 1)));
        Add("other", 1, i => Ipv4("192.0.2.17", "198.51.100.9", 47, new byte[24]));
        Add("tcp_syn", 3, i => Ipv6("2001:db8::5", "2001:db8:ffff::1", 6, Tcp(1234, 22, PacketBuilder.Syn)));

        var records = new List<TestPacket>();
        var classes = new Dictionary<string, (int Packets, long Bytes)>(StringComparer.Ordinal);
        for (int i = 0; i < packets.Count; i++)
        {
            records.Add(Eth(T0 + (i * Second / 10), packets[i].Ip));
            (int p, long b) = classes.GetValueOrDefault(packets[i].Class);
            classes[packets[i].Class] = (p + 1, b + packets[i].Ip.Length);
        }

        // Undecodable: three ARP frames (non_ip) and two TCP headers cut short (truncated_transport).
        for (int i = 0; i < 3; i++)
        {
            records.Add(new TestPacket(1, EthernetWithType(new byte[28], 0x0806), T0 + (30 * Second) + i));
        }

        byte[] cut = Ethernet(Syn("203.0.113.200", "198.51.100.7", 23));
        for (int i = 0; i < 2; i++)
        {
            records.Add(new TestPacket(1, cut[..(14 + 20 + 10)], T0 + (31 * Second) + i, OriginalLength: cut.Length));
        }

        return (PcapWriter.Write(records, 1), classes, records.Count);
    }

    [Fact]
    public async Task Scrape_AfterIngest_PacketsAndBytesBySensorAndClassMatchCapture()
    {
        await using var rig = new Rig();
        var (capture, classes, records) = Mixed();
        await rig.IngestAsync("edge-1", capture);
        await rig.Engine.CompleteAsync();
        var (_, samples) = await rig.ScrapeAsync();

        foreach ((string cls, (int packets, long bytes)) in classes)
        {
            Assert.Equal(packets, samples.Value("telemetry_packets_total", ("sensor", "edge-1"), ("class", cls)));
            Assert.Equal(bytes, samples.Value("telemetry_ip_bytes_total", ("sensor", "edge-1"), ("class", cls)));
        }

        Assert.Equal(classes.Count, samples.Count(s => s.Name == "telemetry_packets_total"));
        Assert.Equal(records, samples.Value("telemetry_packets_seen_total", ("sensor", "edge-1")));
        Assert.Equal(3, samples.Value("telemetry_undecodable_packets_total", ("sensor", "edge-1"), ("reason", "non_ip")));
        Assert.Equal(2, samples.Value("telemetry_undecodable_packets_total", ("sensor", "edge-1"), ("reason", "truncated_transport")));
        Assert.Equal(2, samples.Count(s => s.Name == "telemetry_undecodable_packets_total"));
        Assert.Equal(0, samples.Value("telemetry_late_packets_total", ("sensor", "edge-1")));
    }

    [Fact]
    public async Task Scrape_SecondScrape_CountersKeepTotalsAndAddNewPackets()
    {
        await using var rig = new Rig();
        var (capture, classes, _) = Mixed();
        await rig.IngestAsync("edge-1", capture);
        var (_, first) = await rig.ScrapeAsync();
        var (_, again) = await rig.ScrapeAsync();
        Assert.Equal(classes["tcp_syn"].Packets, first.Value("telemetry_packets_total", ("sensor", "edge-1"), ("class", "tcp_syn")));
        Assert.Equal(classes["tcp_syn"].Packets, again.Value("telemetry_packets_total", ("sensor", "edge-1"), ("class", "tcp_syn")));

        await rig.IngestAsync("edge-1", PcapWriter.Write([Eth(T0 + (70 * Second), Syn("203.0.113.1", "198.51.100.7", 23))], 1));
        await rig.IngestAsync("edge-2", PcapWriter.Write([Eth(T0 + (70 * Second), Syn("203.0.113.1", "198.51.100.7", 23))], 1));
        var (_, third) = await rig.ScrapeAsync();
        Assert.Equal(classes["tcp_syn"].Packets + 1, third.Value("telemetry_packets_total", ("sensor", "edge-1"), ("class", "tcp_syn")));
        Assert.Equal(1, third.Value("telemetry_packets_total", ("sensor", "edge-2"), ("class", "tcp_syn")));
    }

    [Fact]
    public async Task Scrape_MoreThanTwentyPorts_TopTwentyPlusOther()
    {
        await using var rig = new Rig();
        var records = new List<TestPacket>();
        const int Ports = 30;
        for (int p = 0; p < Ports; p++)
        {
            for (int n = 0; n <= p; n++)
            {
                records.Add(Eth(T0 + (records.Count * (Second / 100)), Syn($"203.0.113.{n + 1}", "198.51.100.7", (ushort)(1000 + p))));
            }
        }

        await rig.IngestAsync("edge-1", PcapWriter.Write(records, 1));
        await rig.Engine.CompleteAsync();
        var (_, samples) = await rig.ScrapeAsync();

        var top = samples.Where(s => s.Name == "telemetry_top_port_packets").ToList();
        Assert.Equal(TelemetryMetrics.TopPorts + 1, top.Count);
        for (int p = Ports - TelemetryMetrics.TopPorts; p < Ports; p++)
        {
            Assert.Equal(p + 1, samples.Value("telemetry_top_port_packets", ("proto", "tcp"), ("port", (1000 + p).ToString(System.Globalization.CultureInfo.InvariantCulture))));
        }

        // Ports 1000..1009 carry 1..10 packets: 55 in "other".
        Assert.Equal(55, samples.Value("telemetry_top_port_packets", ("proto", "all"), ("port", "other")));
        Assert.Equal(records.Count, top.Sum(s => s.Value));
    }

    [Fact]
    public async Task Scrape_NewerWindowFlushed_TopPortsFollowItAndStaleSeriesGo()
    {
        await using var rig = new Rig();
        var first = new List<TestPacket>();
        for (int p = 0; p < 5; p++)
        {
            first.Add(Eth(T0 + (p * Second), Syn("203.0.113.1", "198.51.100.7", (ushort)(2000 + p))));
        }

        await rig.IngestAsync("edge-1", PcapWriter.Write(first, 1));
        await WaitForAsync(() => rig.Sink.HasWindow(T0), "the first window to flush");
        var (_, before) = await rig.ScrapeAsync();
        Assert.Equal(6, before.Count(s => s.Name == "telemetry_top_port_packets"));
        Assert.Equal(1, before.Value("telemetry_top_port_packets", ("proto", "tcp"), ("port", "2003")));

        long next = T0 + (120 * Second);
        await rig.IngestAsync("edge-1", PcapWriter.Write(
        [
            Eth(next, Ipv4("203.0.113.1", "198.51.100.7", 17, Udp(1, 53))),
            Eth(next + 1, Ipv4("203.0.113.2", "198.51.100.7", 17, Udp(1, 53))),
            Eth(next + 2, Ipv6("2001:db8::1", "2001:db8::2", 58, Icmp(128, 0))),
        ], 1));
        await WaitForAsync(() => rig.Sink.HasWindow(next), "the second window to flush");
        var (_, after) = await rig.ScrapeAsync();
        var top = after.Where(s => s.Name == "telemetry_top_port_packets").ToList();
        Assert.Equal(["all/other=0", "icmpv6/32768=1", "udp/53=2"], top.Select(s => $"{s.Label("proto")}/{s.Label("port")}={s.Value}").Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Events_FlushesFailuresAndCaptureErrors_Exported()
    {
        await using var rig = new Rig();
        rig.Metrics.RowsFlushed("port_1m", 120, TimeSpan.FromMilliseconds(20));
        rig.Metrics.RowsFlushed("port_1m", 120, TimeSpan.FromMilliseconds(3));
        rig.Metrics.RowsFlushed("target_port_1m", 7, TimeSpan.FromSeconds(2));
        rig.Metrics.FlushFailed("port_1m");

        // A real capture fault: a pcap cut inside its third record.
        byte[] capture = PcapWriter.Write(
            [Eth(T0, Syn("203.0.113.1", "198.51.100.7", 23)), Eth(T0 + 1, Syn("203.0.113.2", "198.51.100.7", 23)), Eth(T0 + 2, Syn("203.0.113.3", "198.51.100.7", 23))], 1);
        IngestResult result = await rig.IngestAsync("edge-9", capture[..^5]);
        Assert.True(result.Failed);
        var (_, samples) = await rig.ScrapeAsync();

        Assert.Equal(240, samples.Value("telemetry_rows_flushed_total", ("table", "port_1m")));
        Assert.Equal(7, samples.Value("telemetry_rows_flushed_total", ("table", "target_port_1m")));
        Assert.Equal(2, samples.Value("telemetry_flush_duration_seconds_count", ("table", "port_1m")));
        Assert.Equal(0.023, samples.Value("telemetry_flush_duration_seconds_sum", ("table", "port_1m")), 6);
        Assert.Equal(1, samples.Value("telemetry_flush_duration_seconds_bucket", ("table", "port_1m"), ("le", "0.005")));
        Assert.Equal(1, samples.Value("telemetry_flush_failures_total", ("table", "port_1m")));
        Assert.Equal(1, samples.Value("telemetry_capture_errors_total", ("sensor", "edge-9"), ("kind", "truncated")));
        Assert.Equal(2, samples.Value("telemetry_packets_total", ("sensor", "edge-9"), ("class", "tcp_syn")));
    }

    [Fact]
    public async Task Scrape_OpenWindows_AggregationGaugesAndWatermark()
    {
        await using var rig = new Rig(shards: 1);
        var records = new List<TestPacket>();
        for (int i = 0; i < 10; i++)
        {
            // 10 sources → 2 targets on port 23: 2 target keys, 1 port key, 10 source keys.
            records.Add(Eth(T0 + (i * Second), Syn($"203.0.113.{i + 1}", $"198.51.100.{(i % 2) + 1}", 23)));
        }

        await rig.IngestAsync("edge-1", PcapWriter.Write(records, 1), end: false);
        double keys = 0;
        await WaitForAsync(() =>
        {
            keys = rig.ScrapeAsync().GetAwaiter().GetResult().Samples.Value("telemetry_aggregation_keys");
            return keys == 13;
        }, "13 open keys");
        var (_, samples) = await rig.ScrapeAsync();
        Assert.True(samples.Value("telemetry_aggregation_bytes") > 0);
        Assert.Equal(0, samples.Value("telemetry_aggregation_pending_windows"));
        Assert.Equal(1, samples.Value("telemetry_aggregation_table_sets_built_total")); // one window, one shard
        long newest = T0 + (9 * Second);
        Assert.Equal(newest / 1e9, samples.Value("telemetry_sensor_last_packet_timestamp_seconds", ("sensor", "edge-1")), 3);
        double expectedLag = (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0) - ((newest / 1e9) - 10);
        Assert.InRange(samples.Value("telemetry_watermark_lag_seconds", ("sensor", "edge-1")), expectedLag - 30, expectedLag + 1);

        await rig.Engine.SourceEndedAsync(rig.Engine.Sensors.GetOrAdd("edge-1"), CancellationToken.None);
        await rig.Engine.CompleteAsync();
        var (_, closed) = await rig.ScrapeAsync();
        Assert.Equal(0, closed.Value("telemetry_aggregation_keys"));

        // 10 source rows fit the smallest table (16 slots, 12 keys at 3/4 load): nothing grew.
        Assert.Equal(0, closed.Value("telemetry_aggregation_table_growths_total"));
    }

    [Fact]
    public async Task Scrape_AnyTraffic_NoLabelHoldsAnAddress()
    {
        await using var rig = new Rig();
        var (capture, _, _) = Mixed();
        await rig.IngestAsync("edge-1", capture);
        await rig.Engine.CompleteAsync();
        rig.Metrics.RowsFlushed("port_1m", 1, TimeSpan.Zero);
        var (text, samples) = await rig.ScrapeAsync();

        Assert.NotEmpty(samples);
        foreach (Sample sample in samples)
        {
            foreach ((string name, string value) in sample.Labels)
            {
                Assert.False(AddressLike().IsMatch(value), $"{sample.Name} label {name}=\"{value}\" looks like an address");
            }
        }

        foreach (string address in new[] { "203.0.113.", "198.51.100.", "192.0.2.", "2001:db8" })
        {
            Assert.DoesNotContain(address, text, StringComparison.Ordinal);
        }
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(20), $"no {what} within 20 s");
            await Task.Delay(20);
        }
    }

    [GeneratedRegex(@"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9a-fA-F]{0,4}:[0-9a-fA-F]{0,4}:")]
    private static partial Regex AddressLike();
}
