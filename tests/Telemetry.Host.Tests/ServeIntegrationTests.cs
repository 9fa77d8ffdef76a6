using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Telemetry.Testing;

namespace Telemetry.Host.Tests;

/// <summary>
/// <c>telemetry serve</c> as a child process: sensors stream captures over real TCP connections,
/// concurrently; ClickHouse rows are compared with tshark; /metrics is checked by promtool and
/// scraped by a real Prometheus.
/// </summary>
[Collection(HostTestGroup.Name)]
public partial class ServeIntegrationTests(HostFixture fixture)
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    [Fact]
    public async Task Serve_ConcurrentSensorsEachOnItsOwnConnection_EachSensorMatchesItsFile()
    {
        ServeScenario scenario = await ServeScenario.GetAsync(fixture);
        Assert.Equal(ServeScenario.EndpointFiles.Length, scenario.Endpoints.Count);
        foreach ((string sensor, CaptureFile file) in scenario.Endpoints)
        {
            Rollups.AssertEqual(
                Rollups.FromOracle(file.Oracle.Packets),
                await Rollups.FromClickHouseAsync(fixture.ClickHouse, scenario.Serve.Database, sensor),
                distinct: true,
                $"sensor {sensor} streaming {file.Name}");
        }
    }

    [Fact]
    public async Task Serve_FourConnectionsOfOneSensor_TotalsAreFourTimesTheFile()
    {
        ServeScenario scenario = await ServeScenario.GetAsync(fixture);
        CaptureFile file = scenario.Captures[ServeScenario.SharedFile];

        // The connections interleave, so packets may be late for one another's windows and go out
        // as extra partial rows: packets and bytes add up exactly, distinct counts only per row.
        Rollups.AssertEqual(
            Rollups.FromOracle(file.Oracle.Packets, times: ServeScenario.SharedConnections),
            await Rollups.FromClickHouseAsync(fixture.ClickHouse, scenario.Serve.Database, ServeScenario.SharedSensor),
            distinct: false,
            $"{ServeScenario.SharedConnections} connections of sensor {ServeScenario.SharedSensor}");
    }

    [Fact]
    public async Task Serve_WatchedDirectory_RotatedFilesIngestedOnceClosed()
    {
        ServeScenario scenario = await ServeScenario.GetAsync(fixture);
        Rollups.AssertEqual(
            Rollups.FromOracle(ServeScenario.WatchFiles.SelectMany(f => scenario.Captures[f].Oracle.Packets)),
            await Rollups.FromClickHouseAsync(fixture.ClickHouse, scenario.Serve.Database, ServeScenario.WatchSensor),
            distinct: true,
            "watched directory");
        List<Sample> metrics = Exposition.Parse(await scenario.Serve.ScrapeAsync());
        Assert.Equal(0, metrics.Value("telemetry_sensor_connections", ("sensor", ServeScenario.WatchSensor)));
        Assert.DoesNotContain(metrics, s => s.Name == "telemetry_capture_errors_total" && s.Label("sensor") == ServeScenario.WatchSensor);
    }

    [Fact]
    public async Task Serve_BrokenConnections_AcceptedPacketsKeptErrorsCountedOthersUnaffected()
    {
        ServeScenario scenario = await ServeScenario.GetAsync(fixture);
        List<Sample> metrics = Exposition.Parse(await scenario.Serve.ScrapeAsync());
        foreach ((string sensor, string kind, TsharkCapture kept) in scenario.Broken)
        {
            Rollups.AssertEqual(
                Rollups.FromOracle(kept.Packets),
                await Rollups.FromClickHouseAsync(fixture.ClickHouse, scenario.Serve.Database, sensor),
                distinct: true,
                $"broken stream {sensor} ({kind})");
            Assert.Equal(1, metrics.Value("telemetry_capture_errors_total", ("sensor", sensor), ("kind", kind)));
            Assert.Equal(1, await fixture.ClickHouse.ScalarAsync(
                $"SELECT sum(capture_errors) FROM {scenario.Serve.Database}.ingest_health_1m WHERE sensor = '{sensor}'"));
        }

        Assert.Contains(scenario.Broken, b => b.Kept.Packets.Count >= 80);
        foreach (string sensor in scenario.Endpoints.Keys.Append(ServeScenario.SharedSensor).Append(ServeScenario.WatchSensor))
        {
            Assert.DoesNotContain(metrics, s => s.Name == "telemetry_capture_errors_total" && s.Label("sensor") == sensor && s.Value > 0);
        }

        // The service is still accepting sensors after the broken ones.
        Assert.False(scenario.Serve.Process.HasExited);
        string again = await ServeProcess.StreamAsync(scenario.Serve.ListenerPorts[0], ServeScenario.EndpointSensor, scenario.Captures["e-ipv6.pcap"].Bytes, seed: 300);
        long expected = scenario.Captures["e-ipv6.pcap"].Oracle.Packets.Count;
        await scenario.Serve.Process.WaitUntilAsync(
            async () => await fixture.ClickHouse.ScalarAsync($"SELECT sum(packets) FROM {scenario.Serve.Database}.port_1m WHERE sensor = '{again}'") == expected,
            TimeSpan.FromSeconds(30), "a later sensor's rows");
    }

    [Fact]
    public async Task Metrics_Exposition_PassesPromtool()
    {
        ServeScenario scenario = await ServeScenario.GetAsync(fixture);
        string exposition = await scenario.Serve.ScrapeAsync();
        ProcessResult check = await TestProcess.RunAsync("promtool", ["check", "metrics"], TimeSpan.FromSeconds(30), stdin: System.Text.Encoding.UTF8.GetBytes(exposition));
        Assert.True(check.ExitCode == 0 && check.Stdout.Trim().Length == 0 && check.Stderr.Trim().Length == 0, $"promtool check metrics: {check}");
    }

    [Fact]
    public async Task Metrics_PacketsTotal_EqualsOracleCountsBySensorAndClass()
    {
        ServeScenario scenario = await ServeScenario.GetAsync(fixture);
        List<Sample> metrics = Exposition.Parse(await scenario.Serve.ScrapeAsync());
        var expected = new List<(string Sensor, IEnumerable<OraclePacket> Packets, int Times)>
        {
            (ServeScenario.SharedSensor, scenario.Captures[ServeScenario.SharedFile].Oracle.Packets, ServeScenario.SharedConnections),
        };
        expected.Add((ServeScenario.WatchSensor, ServeScenario.WatchFiles.SelectMany(f => scenario.Captures[f].Oracle.Packets), 1));
        expected.AddRange(scenario.Endpoints.Select(e => (e.Key, (IEnumerable<OraclePacket>)e.Value.Oracle.Packets, 1)));
        expected.AddRange(scenario.Broken.Select(b => (b.Sensor, (IEnumerable<OraclePacket>)b.Kept.Packets, 1)));
        foreach ((string sensor, IEnumerable<OraclePacket> packets, int times) in expected)
        {
            var byClass = packets.GroupBy(p => p.Class).ToDictionary(g => g.Key, g => (Packets: g.Count() * times, Bytes: g.Sum(p => p.IpBytes) * times), StringComparer.Ordinal);
            var exported = metrics.Where(s => s.Name == "telemetry_packets_total" && s.Label("sensor") == sensor && s.Value > 0)
                .ToDictionary(s => s.Label("class"), s => s.Value, StringComparer.Ordinal);
            Assert.Equal(byClass.Keys.Order(StringComparer.Ordinal), exported.Keys.Order(StringComparer.Ordinal));
            foreach ((string cls, (int count, long bytes)) in byClass)
            {
                Assert.True(count == exported[cls], $"{sensor} {cls}: exported {exported[cls]}, tshark counts {count}");
                Assert.Equal(bytes, metrics.Value("telemetry_ip_bytes_total", ("sensor", sensor), ("class", cls)));
            }
        }
    }

    [Fact]
    public async Task Metrics_Labels_NoTrafficAddressesAndTopPortsBounded()
    {
        ServeScenario scenario = await ServeScenario.GetAsync(fixture);
        string exposition = await scenario.Serve.ScrapeAsync();
        List<Sample> metrics = Exposition.Parse(exposition);

        // Sensor names are configuration (with RemoteEndpoint naming they include the sensor's own
        // address); no other label may hold an address, and no darknet address appears anywhere.
        var sensors = new HashSet<string>(scenario.Endpoints.Keys.Concat(scenario.Broken.Select(b => b.Sensor)).Append(ServeScenario.SharedSensor).Append(ServeScenario.WatchSensor), StringComparer.Ordinal);
        foreach (Sample sample in metrics.Where(s => s.Name.StartsWith("telemetry_", StringComparison.Ordinal)))
        {
            foreach ((string name, string value) in sample.Labels)
            {
                if (name == "sensor")
                {
                    Assert.True(sensors.Contains(value) || EndpointSensorName().IsMatch(value), $"unexpected sensor label {value}");
                }
                else
                {
                    Assert.False(AddressLike().IsMatch(value), $"{sample.Name} label {name}=\"{value}\" looks like an address");
                }
            }
        }

        var addresses = scenario.Captures.Files.SelectMany(f => f.Oracle.Packets).SelectMany(p => new[] { p.Source, p.Destination }).Distinct().ToList();
        foreach (string hex in addresses)
        {
            var address = new System.Net.IPAddress(Convert.FromHexString(hex));
            string text = address.IsIPv4MappedToIPv6 ? address.MapToIPv4().ToString() : address.ToString();
            Assert.False(exposition.Contains(text + "\"", StringComparison.Ordinal) || exposition.Contains("\"" + text, StringComparison.Ordinal), $"{text} appears in /metrics");
        }

        var top = metrics.Where(s => s.Name == "telemetry_top_port_packets").ToList();
        Assert.InRange(top.Count, 2, 21);
        Assert.Single(top, s => s.Label("port") == "other");
        Assert.All(top.Where(s => s.Label("port") != "other"), s => Assert.True(ushort.TryParse(s.Label("port"), CultureInfo.InvariantCulture, out _)));
    }

    [Fact]
    public async Task Prometheus_RealServerScrapesService_QueryReturnsTheTotals()
    {
        ServeScenario scenario = await ServeScenario.GetAsync(fixture);
        string directory = Path.Combine(fixture.Directory, "prometheus");
        Directory.CreateDirectory(directory);
        int port = FreePort.Get();
        string config = Path.Combine(directory, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: telemetry
                static_configs:
                  - targets: ['127.0.0.1:{scenario.Serve.HttpPort}']
            """);
        using var prometheus = new BackgroundProcess("prometheus",
        [
            $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(directory, "data")}", $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
        ]);

        long expected = scenario.Captures[ServeScenario.SharedFile].Oracle.Packets.Count * (long)ServeScenario.SharedConnections;
        string query = Uri.EscapeDataString($"sum(telemetry_packets_total{{sensor=\"{ServeScenario.SharedSensor}\"}})");
        string last = "";
        await prometheus.WaitUntilAsync(async () =>
        {
            try
            {
                last = await Http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/api/v1/query?query={query}"));
            }
            catch (HttpRequestException)
            {
                return false;
            }

            using JsonDocument json = JsonDocument.Parse(last);
            JsonElement result = json.RootElement.GetProperty("data").GetProperty("result");
            return result.GetArrayLength() == 1 && result[0].GetProperty("value")[1].GetString() == expected.ToString(CultureInfo.InvariantCulture);
        }, TimeSpan.FromSeconds(60), $"Prometheus to report {expected} packets (last answer: {last})");

        string up = await Http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/api/v1/query?query=up"));
        Assert.Contains("\"job\":\"telemetry\"", up, StringComparison.Ordinal);
        Assert.Contains("\"1\"]", up, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^ep-127\.0\.0\.1:\d+$")]
    private static partial Regex EndpointSensorName();

    [GeneratedRegex(@"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9a-fA-F]{0,4}:[0-9a-fA-F]{0,4}:")]
    private static partial Regex AddressLike();
}
