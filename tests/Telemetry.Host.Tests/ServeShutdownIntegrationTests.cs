using Telemetry.Testing;

namespace Telemetry.Host.Tests;

[Collection(HostTestGroup.Name)]
public class ServeShutdownIntegrationTests(HostFixture fixture)
{
    /// <summary>
    /// A sensor still connected when the service gets SIGTERM: its last window is open (no idle
    /// flush for an hour, the watermark has not passed it) and only the final flush can write it.
    /// </summary>
    [Fact]
    public async Task Serve_SigtermWithSensorConnected_FinalFlushWritesEverythingAndExitsZero()
    {
        CaptureSet captures = await fixture.Captures;
        CaptureFile file = captures["c-sll.pcap"];
        long total = file.Oracle.Packets.Count;
        string db = ClickHouseServer.NewDatabase("shutdown");
        using ServeProcess serve = await ServeProcess.StartAsync(fixture, db, [("live", "Listener")], "--Aggregation:IdleFlush=01:00:00");

        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, serve.ListenerPorts[0]));
        await socket.SendAsync(file.Bytes, System.Net.Sockets.SocketFlags.None);

        // Everything read and handed to the aggregator, the earlier window written, the last one held open.
        await serve.Process.WaitUntilAsync(
            async () => Exposition.Parse(await serve.ScrapeAsync()).Where(s => s.Name == "telemetry_packets_total" && s.Label("sensor") == "live").Sum(s => s.Value) == total,
            TimeSpan.FromSeconds(30), "every packet to be counted");
        await serve.Process.WaitUntilAsync(
            async () => await fixture.ClickHouse.ScalarAsync($"SELECT sum(packets) FROM {db}.port_1m WHERE sensor = 'live'") > 0,
            TimeSpan.FromSeconds(30), "the first window in ClickHouse");
        long before = await fixture.ClickHouse.ScalarAsync($"SELECT sum(packets) FROM {db}.port_1m WHERE sensor = 'live'");
        Assert.InRange(before, 1, total - 1);
        Assert.Equal(1, Exposition.Parse(await serve.ScrapeAsync()).Value("telemetry_sensor_connections", ("sensor", "live")));

        TestProcess.Terminate(serve.Process.Id);
        Assert.True(await serve.Process.WaitForExitAsync(TimeSpan.FromSeconds(60)), $"serve did not stop within 60 s after SIGTERM\n{serve.Process.Stdout}\n{serve.Process.Stderr}");
        Assert.True(serve.Process.ExitCode == 0, $"serve exited {serve.Process.ExitCode}\n{serve.Process.Stdout}\n{serve.Process.Stderr}");

        Rollups.AssertEqual(Rollups.FromOracle(file.Oracle.Packets), await Rollups.FromClickHouseAsync(fixture.ClickHouse, db, "live"), distinct: true, "after SIGTERM");
    }
}
