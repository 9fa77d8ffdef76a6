using System.Net;
using System.Net.Sockets;
using Telemetry.Testing;

namespace Telemetry.Host.Tests;

/// <summary>A running <c>telemetry serve</c> child process with its TCP listeners, HTTP port and database.</summary>
internal sealed class ServeProcess : IDisposable
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    private ServeProcess(BackgroundProcess process, string database, int httpPort, int[] listenerPorts)
    {
        Process = process;
        Database = database;
        HttpPort = httpPort;
        ListenerPorts = listenerPorts;
    }

    public BackgroundProcess Process { get; }

    public string Database { get; }

    public int HttpPort { get; }

    public int[] ListenerPorts { get; }

    public Uri MetricsUrl => new($"http://127.0.0.1:{HttpPort}/metrics");

    /// <summary>
    /// Starts <c>serve</c> with one listener per (sensor, naming) pair on free loopback ports and
    /// waits until it reports itself running and ready.
    /// </summary>
    public static async Task<ServeProcess> StartAsync(HostFixture fixture, string database, (string Sensor, string Naming)[] listeners, params string[] extra)
    {
        int[] ports = FreePort.Get(listeners.Length + 1);
        var arguments = new List<string>
        {
            "serve",
            $"--ClickHouse:Url={fixture.ClickHouse.Url}",
            $"--ClickHouse:Database={database}",
            $"--Http:Urls=http://127.0.0.1:{ports[^1]}",
            "--Aggregation:FlushInterval=00:00:00.200",
        };
        for (int i = 0; i < listeners.Length; i++)
        {
            arguments.Add($"--Ingest:Listeners:{i}:Address=127.0.0.1");
            arguments.Add($"--Ingest:Listeners:{i}:Port={ports[i]}");
            arguments.Add($"--Ingest:Listeners:{i}:Sensor={listeners[i].Sensor}");
            arguments.Add($"--Ingest:Listeners:{i}:Naming={listeners[i].Naming}");
        }

        arguments.AddRange(extra);
        BackgroundProcess process = fixture.StartTelemetry(arguments);
        var serve = new ServeProcess(process, database, ports[^1], ports[..^1]);
        try
        {
            await process.WaitUntilAsync(async () =>
            {
                if (!process.Stderr.Contains("telemetry is running.", StringComparison.Ordinal))
                {
                    return false;
                }

                try
                {
                    using HttpResponseMessage ready = await Http.GetAsync(new Uri($"http://127.0.0.1:{serve.HttpPort}/health/ready"));
                    return ready.IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(60), "the service to start");
            return serve;
        }
        catch
        {
            serve.Dispose();
            throw;
        }
    }

    public async Task<string> ScrapeAsync() => await Http.GetStringAsync(MetricsUrl);

    /// <summary>
    /// Streams <paramref name="data"/> over a new connection in uneven chunks, half-closes, and
    /// waits until the service has read everything and closed its end. Returns the sensor name the
    /// service gives a RemoteEndpoint connection ("{sensor}-127.0.0.1:{client port}").
    /// A service that closes early (a malformed stream) is expected when <paramref name="malformed"/>.
    /// </summary>
    public static async Task<string> StreamAsync(int port, string sensor, byte[] data, int seed, bool malformed = false)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        int local = ((IPEndPoint)socket.LocalEndPoint!).Port;
        var random = new Random(seed);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            for (int offset = 0; offset < data.Length;)
            {
                int chunk = Math.Min(data.Length - offset, random.Next(4) == 0 ? random.Next(1, 64) : random.Next(64, 40_000));
                offset += await socket.SendAsync(data.AsMemory(offset, chunk), SocketFlags.None, timeout.Token);
                if (random.Next(8) == 0)
                {
                    await Task.Delay(1, timeout.Token);
                }
            }

            socket.Shutdown(SocketShutdown.Send);
            byte[] buffer = new byte[512];
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) > 0)
            {
            }
        }
        catch (SocketException) when (malformed)
        {
            // The service closed a malformed stream while bytes were still on the way.
        }

        return $"{sensor}-127.0.0.1:{local}";
    }

    public void Dispose() => Process.Dispose();
}

/// <summary>
/// The shared serve scenario: one serve process, four well-formed sensors each on its own TCP
/// connection (RemoteEndpoint naming), four connections of one sensor (Listener naming), three
/// broken connections, and a watched directory receiving two rotated capture files, all at the
/// same time; it waits until ClickHouse holds every row.
/// </summary>
internal sealed class ServeScenario : IDisposable
{
    public const string EndpointSensor = "ep";
    public const string SharedSensor = "one";
    public const string SharedFile = "f-multi.pcapng";
    public const int SharedConnections = 4;
    public const string WatchSensor = "watch";

    /// <summary>The files dropped into the watched directory, in rotation order.</summary>
    public static readonly string[] WatchFiles = ["b-raw.pcap", "c-sll.pcap"];

    public static readonly string[] EndpointFiles = ["f-multi.pcapng", "a-ethernet.pcap", "g-null.bin", "h-raw-be.cap"];

    private ServeScenario(ServeProcess serve, CaptureSet captures)
    {
        Serve = serve;
        Captures = captures;
    }

    public ServeProcess Serve { get; }

    public CaptureSet Captures { get; }

    /// <summary>Well-formed sensors and the file each streamed.</summary>
    public Dictionary<string, CaptureFile> Endpoints { get; } = new(StringComparer.Ordinal);

    /// <summary>Broken streams: sensor, the error kind the service must report, and what tshark reads in the part before the fault.</summary>
    public List<(string Sensor, string Kind, TsharkCapture Kept)> Broken { get; } = [];

    public static Task<ServeScenario> GetAsync(HostFixture fixture) => fixture.SharedAsync("serve-scenario", () => CreateAsync(fixture));

    private static async Task<ServeScenario> CreateAsync(HostFixture fixture)
    {
        CaptureSet captures = await fixture.Captures;
        string db = ClickHouseServer.NewDatabase("serve");
        string watched = Path.Combine(fixture.Directory, "watched");
        Directory.CreateDirectory(watched);
        ServeProcess serve = await ServeProcess.StartAsync(
            fixture,
            db,
            [(EndpointSensor, "RemoteEndpoint"), (SharedSensor, "Listener")],
            "--Aggregation:IdleFlush=00:00:02",
            $"--Ingest:WatchDirectories:0:Path={watched}",
            $"--Ingest:WatchDirectories:0:Sensor={WatchSensor}",
            "--Ingest:WatchDirectories:0:SettleTime=00:00:01",
            "--Ingest:WatchDirectories:0:PollInterval=00:00:00.200");
        var scenario = new ServeScenario(serve, captures);
        try
        {
            await scenario.RunAsync(fixture);
            return scenario;
        }
        catch
        {
            scenario.Dispose();
            throw;
        }
    }

    private async Task RunAsync(HostFixture fixture)
    {
        int endpointPort = Serve.ListenerPorts[0], sharedPort = Serve.ListenerPorts[1];
        string directory = Path.Combine(fixture.Directory, "tcp");
        Directory.CreateDirectory(directory);

        // A stream cut inside a record, then closed: b-raw.pcap up to half of its 201st record.
        byte[] raw = Captures["b-raw.pcap"].Bytes;
        List<int> rawOffsets = PcapFile.RecordOffsets(raw);
        byte[] cut = raw[..(rawOffsets[200] + 20)];
        string cutKept = Path.Combine(directory, "cut-kept.pcap");
        await File.WriteAllBytesAsync(cutKept, raw[..rawOffsets[200]]);

        // A record longer than any snaplen after 80 good ones.
        byte[] ipv4 = Captures["d-ipv4.pcap"].Bytes;
        List<int> ipv4Offsets = PcapFile.RecordOffsets(ipv4);
        byte[] tooLong = [.. ipv4[..ipv4Offsets[80]], .. PcapFile.RecordHeader(ipv4, 1_763_597_400, 300_000), .. new byte[2000]];
        string tooLongKept = Path.Combine(directory, "too-long-kept.pcap");
        await File.WriteAllBytesAsync(tooLongKept, ipv4[..ipv4Offsets[80]]);

        // Random bytes from the first byte on.
        byte[] garbage = new byte[3000];
        new Random(9).NextBytes(garbage);
        garbage[0] = 0x42;

        // Rotated files appear one after the other; a dot-file (a capture still being written,
        // by convention) is never read.
        string watched = Path.Combine(fixture.Directory, "watched");
        await File.WriteAllBytesAsync(Path.Combine(watched, ".capture-0003.pcap.part"), new byte[100]);
        Task watch = Task.Run(async () =>
        {
            for (int i = 0; i < WatchFiles.Length; i++)
            {
                await File.WriteAllBytesAsync(Path.Combine(watched, $"capture-{i + 1:D4}.pcap"), Captures[WatchFiles[i]].Bytes);
                await Task.Delay(300);
            }
        });

        var good = EndpointFiles.Select((name, i) => (name, task: ServeProcess.StreamAsync(endpointPort, EndpointSensor, Captures[name].Bytes, seed: i))).ToList();
        var shared = Enumerable.Range(0, SharedConnections).Select(i => ServeProcess.StreamAsync(sharedPort, SharedSensor, Captures[SharedFile].Bytes, seed: 100 + i)).ToList();
        Task<string> cutTask = ServeProcess.StreamAsync(endpointPort, EndpointSensor, cut, seed: 200, malformed: true);
        Task<string> tooLongTask = ServeProcess.StreamAsync(endpointPort, EndpointSensor, tooLong, seed: 201, malformed: true);
        Task<string> garbageTask = ServeProcess.StreamAsync(endpointPort, EndpointSensor, garbage, seed: 202, malformed: true);
        Task<TsharkCapture> cutOracle = Tshark.ReadAsync(cutKept);
        Task<TsharkCapture> tooLongOracle = Tshark.ReadAsync(tooLongKept);
        await Task.WhenAll([.. good.Select(g => g.task), .. shared, cutTask, tooLongTask, garbageTask, cutOracle, tooLongOracle, watch]);

        foreach ((string name, Task<string> task) in good)
        {
            Endpoints[await task] = Captures[name];
        }

        Broken.Add((await cutTask, "truncated", await cutOracle));
        Broken.Add((await tooLongTask, "record_too_long", await tooLongOracle));
        Broken.Add((await garbageTask, "bad_magic", new TsharkCapture(0, 0, [])));

        // Every connection has been read to its end; wait for the flushes to reach ClickHouse. A
        // flush inserts the target, port and source tables in that order, so the source table
        // is the one to wait on: once its sums are whole, the other two are as well.
        var expected = new Dictionary<string, long>(StringComparer.Ordinal)
        {
            [SharedSensor] = Captures[SharedFile].Oracle.Packets.Count * SharedConnections,
            [WatchSensor] = WatchFiles.Sum(f => Captures[f].Oracle.Packets.Count),
        };
        foreach ((string sensor, CaptureFile file) in Endpoints)
        {
            expected[sensor] = file.Oracle.Packets.Count;
        }

        foreach ((string sensor, _, TsharkCapture kept) in Broken)
        {
            expected[sensor] = kept.Packets.Count;
        }

        await Serve.Process.WaitUntilAsync(async () =>
        {
            var stored = (await fixture.ClickHouse.RowsAsync($"SELECT sensor, sum(packets) FROM {Serve.Database}.source_1m GROUP BY sensor"))
                .ToDictionary(r => r[0], r => long.Parse(r[1], System.Globalization.CultureInfo.InvariantCulture), StringComparer.Ordinal);
            var errors = (await fixture.ClickHouse.RowsAsync($"SELECT sensor, sum(capture_errors) FROM {Serve.Database}.ingest_health_1m GROUP BY sensor"))
                .ToDictionary(r => r[0], r => long.Parse(r[1], System.Globalization.CultureInfo.InvariantCulture), StringComparer.Ordinal);
            return expected.All(e => e.Value == 0 || stored.GetValueOrDefault(e.Key) >= e.Value)
                && Broken.All(b => errors.GetValueOrDefault(b.Sensor) >= 1);
        }, TimeSpan.FromSeconds(60), "every sensor's rows and health in ClickHouse");
    }

    public void Dispose() => Serve.Dispose();
}
