using System.Globalization;
using System.Text.RegularExpressions;
using Telemetry.Testing;

namespace Telemetry.Host.Tests;

/// <summary><c>telemetry replay</c> run as users run it (a child process), checked against tshark.</summary>
[Collection(HostTestGroup.Name)]
public partial class ReplayIntegrationTests(HostFixture fixture)
{
    private static readonly string[] AllClasses =
        ["tcp_syn", "tcp_synack", "tcp_rst", "tcp_other", "udp", "icmp_request", "icmp_backscatter", "icmp_other", "fragment", "other"];

    [Fact]
    public async Task Replay_EveryFormatAndLinkType_TablesMatchTsharkOracle()
    {
        CaptureSet captures = await fixture.Captures;
        string db = ClickHouseServer.NewDatabase("replay");

        // Configuration through the environment, as in the README: ClickHouse__Url, ClickHouse__Database.
        ProcessResult result = await fixture.RunTelemetryAsync(
            ["replay", "--sensor", "s1", .. captures.Files.Select(f => f.Path)],
            new Dictionary<string, string> { ["ClickHouse__Url"] = fixture.ClickHouse.Url.ToString(), ["ClickHouse__Database"] = db });
        Assert.True(result.ExitCode == 0, $"replay failed: {result}");

        // The writer and tshark agree on what is in each file, and the oracle covers every class.
        foreach (CaptureFile file in captures.Files)
        {
            Assert.True(file.Records == file.Oracle.Frames, $"{file.Name}: wrote {file.Records} records, tshark read {file.Oracle.Frames}");
            Assert.Equal(file.NonIp, file.Oracle.NonIpFrames);
        }

        List<OraclePacket> packets = [.. captures.Files.SelectMany(f => f.Oracle.Packets)];
        Assert.Equal(AllClasses.Order(StringComparer.Ordinal), packets.Select(p => p.Class).Distinct().Order(StringComparer.Ordinal));
        Assert.True(packets.Select(p => p.Window).Distinct().Count() >= 16, "the captures should span many minutes");

        // The one-line summary.
        string summary = Assert.Single(result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("replay:", StringComparison.Ordinal));
        Match match = Summary().Match(summary);
        Assert.True(match.Success, $"unexpected summary: {summary}");
        long records = captures.Files.Sum(f => f.Records);
        Assert.Equal($"s1|{captures.Files.Count}|0|{records}|{packets.Count}|{records - packets.Count}|{packets.Sum(p => p.IpBytes)}",
            string.Join('|', match.Groups.Values.Skip(1).Select(g => g.Value)));

        // It ends with the two phases, reading and the flush after it, which add up to the whole.
        Match phases = Phases().Match(summary);
        Assert.True(phases.Success, $"no phases at the end of: {summary}");
        double[] seconds = [.. phases.Groups.Values.Skip(1).Select(g => double.Parse(g.Value, CultureInfo.InvariantCulture))];
        Assert.Equal(seconds[0], seconds[1] + seconds[3], 0.015);
        Assert.True(seconds[2] > 0 && seconds[4] >= 0, summary);

        Rollups.AssertEqual(Rollups.FromOracle(packets), await Rollups.FromClickHouseAsync(fixture.ClickHouse, db, "s1"), distinct: true, "replay");

        // The capture really holds a row with thousands of distinct sources, compared exactly above.
        Assert.Equal(5000, Rollups.FromOracle(packets).Targets.Values.Max(c => c.Distinct1));

        // Ingest health: every record seen, the non-IP ones undecodable, the drops the pcapng reports.
        List<string[]> health = await fixture.ClickHouse.RowsAsync(
            $"SELECT sum(packets_seen), sum(packets_decoded), sum(undecodable_non_ip), sum(capture_errors), sum(capture_drops) FROM {db}.ingest_health_1m WHERE sensor = 's1'");
        Assert.Equal($"{records}|{packets.Count}|{records - packets.Count}|0|21", string.Join('|', health[0]));
    }

    [Fact]
    public async Task Replay_BadFilesAmongGood_ReportsEachKeepsEverythingReadableAndExitsOne()
    {
        CaptureSet captures = await fixture.Captures;
        string directory = Path.Combine(fixture.Directory, "bad-replay");
        Directory.CreateDirectory(directory);

        // Random bytes; a capture cut inside its 151st record; a file that does not exist.
        string garbage = Path.Combine(directory, "garbage.pcap");
        byte[] noise = new byte[5000];
        new Random(42).NextBytes(noise);
        noise[0] = 0x00;
        await File.WriteAllBytesAsync(garbage, noise);

        CaptureFile source = captures["c-sll.pcap"];
        List<int> offsets = PcapFile.RecordOffsets(source.Bytes);
        int cutRecord = offsets[150];
        int recordLength = offsets[151] - cutRecord;
        string truncated = Path.Combine(directory, "truncated.pcap");
        await File.WriteAllBytesAsync(truncated, source.Bytes[..(cutRecord + (recordLength / 2))]);
        string complete = Path.Combine(directory, "complete-part.pcap");
        await File.WriteAllBytesAsync(complete, source.Bytes[..cutRecord]);
        string missing = Path.Combine(directory, "missing.pcap");

        string db = ClickHouseServer.NewDatabase("badreplay");
        ProcessResult result = await fixture.RunTelemetryAsync(
        [
            "replay", "--sensor", "s2", captures["b-raw.pcap"].Path, garbage, truncated, missing, captures["d-ipv4.pcap"].Path,
            $"--ClickHouse:Url={fixture.ClickHouse.Url}", $"--ClickHouse:Database={db}",
        ]);

        Assert.True(result.ExitCode == 1, $"replay should exit 1 when a file fails: {result}");
        Assert.Contains(result.Stderr.Split('\n'), l => l.Contains(garbage, StringComparison.Ordinal) && l.Contains("at byte offset 0", StringComparison.Ordinal));
        Assert.Contains(result.Stderr.Split('\n'), l => l.Contains(truncated, StringComparison.Ordinal) && l.Contains($"at byte offset {cutRecord}", StringComparison.Ordinal));
        Assert.Contains(result.Stderr.Split('\n'), l => l.Contains(missing, StringComparison.Ordinal));
        Assert.Contains("5 file(s), 3 failed", result.Stdout, StringComparison.Ordinal);

        // Everything before the cut is kept, and the good files are whole.
        TsharkCapture part = await Tshark.ReadAsync(complete);
        Assert.Equal(150, part.Frames);
        List<OraclePacket> expected = [.. captures["b-raw.pcap"].Oracle.Packets, .. part.Packets, .. captures["d-ipv4.pcap"].Oracle.Packets];
        Rollups.AssertEqual(Rollups.FromOracle(expected), await Rollups.FromClickHouseAsync(fixture.ClickHouse, db, "s2"), distinct: true, "replay with bad files");
        Assert.Equal(2, await fixture.ClickHouse.ScalarAsync($"SELECT sum(capture_errors) FROM {db}.ingest_health_1m WHERE sensor = 's2'"));
    }

    [Fact]
    public async Task GenerateThenReplayFromGzippedStdin_TablesMatchTsharkOracle()
    {
        string capture = Path.Combine(fixture.Directory, "generated.pcap");
        ProcessResult generate = await fixture.RunTelemetryAsync(
            ["generate", "--out", capture, "--packets", "4000", "--rate", "25", "--start", "2025-11-21T00:00:00Z", "--seed", "3", "--sources", "300"]);
        Assert.True(generate.ExitCode == 0, $"generate failed: {generate}");
        TsharkCapture oracle = await Tshark.ReadAsync(capture);
        Assert.Equal(4000, oracle.Frames);
        Assert.True(oracle.Packets.Select(p => p.Window).Distinct().Count() >= 3);

        // '-' reads standard input; gzip is recognised by its content.
        string db = ClickHouseServer.NewDatabase("generated");
        ProcessResult replay = await fixture.RunTelemetryAsync(
            ["replay", "--sensor", "gen", "-", $"--ClickHouse:Url={fixture.ClickHouse.Url}", $"--ClickHouse:Database={db}"],
            stdin: Gzip.Compress(await File.ReadAllBytesAsync(capture)));
        Assert.True(replay.ExitCode == 0, $"replay failed: {replay}");
        Rollups.AssertEqual(Rollups.FromOracle(oracle.Packets), await Rollups.FromClickHouseAsync(fixture.ClickHouse, db, "gen"), distinct: true, "generated capture");
    }

    [Fact]
    public async Task SchemaVerb_RunTwice_CreatesTablesOnceAndNamesTheServer()
    {
        string db = ClickHouseServer.NewDatabase("verb");
        string[] arguments = ["schema", $"--ClickHouse:Url={fixture.ClickHouse.Url}", $"--ClickHouse:Database={db}"];
        foreach (int run in new[] { 1, 2 })
        {
            ProcessResult result = await fixture.RunTelemetryAsync(arguments);
            Assert.True(result.ExitCode == 0, $"schema run {run} failed: {result}");
            Assert.Contains($"schema of {db} is at version 1 on ClickHouse 18.16", result.Stdout, StringComparison.Ordinal);
        }

        Assert.Equal(1, await fixture.ClickHouse.ScalarAsync($"SELECT count() FROM {db}.schema_migrations"));
        Assert.Equal(5, await fixture.ClickHouse.ScalarAsync($"SELECT count() FROM system.tables WHERE database = '{db}'"));
    }

    [Theory]
    [InlineData("replay")]
    [InlineData("serve")]
    public async Task Verb_ClickHouseUnreachable_ExitsOneWithOneClearLine(string verb)
    {
        int dead = FreePort.Get();
        int[] ports = FreePort.Get(2);
        string capture = (await fixture.Captures)["d-ipv4.pcap"].Path;
        ProcessResult result = await fixture.RunTelemetryAsync(
            verb == "replay"
                ? ["replay", "--sensor", "x", capture, $"--ClickHouse:Url=http://127.0.0.1:{dead}"]
                : ["serve", $"--ClickHouse:Url=http://127.0.0.1:{dead}", $"--Http:Urls=http://127.0.0.1:{ports[0]}",
                    "--Ingest:Listeners:0:Address=127.0.0.1", $"--Ingest:Listeners:0:Port={ports[1]}"],
            timeout: TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 1, $"{verb} should fail at start: {result}");
        Assert.Contains(result.Stderr.Split('\n'), l => l.StartsWith($"telemetry {verb}: ", StringComparison.Ordinal) && l.Contains("Connection refused", StringComparison.Ordinal));
    }

    /// <summary>
    /// ClickHouse takes the schema but then refuses every insert: the final flush retries without
    /// end, so Ctrl+C must still stop replay (the first asks for a graceful stop, the second ends it).
    /// </summary>
    [Fact]
    public async Task Replay_InsertsFailForeverThenCtrlCTwice_Exits()
    {
        CaptureSet captures = await fixture.Captures;
        string db = ClickHouseServer.NewDatabase("stuck");
        using var proxy = new FaultInjectingProxy(fixture.ClickHouse.Url, FreePort.Get(), _ => true);
        using var replay = fixture.StartTelemetry(
        [
            "replay", "--sensor", "stuck", captures["d-ipv4.pcap"].Path,
            $"--ClickHouse:Url={proxy.Url}", $"--ClickHouse:Database={db}", "--ClickHouse:RetryDelay=00:00:00.050", "--ClickHouse:MaxRetryDelay=00:00:00.200",
        ]);
        await replay.WaitUntilAsync(() => Task.FromResult(proxy.Failed >= 3), TimeSpan.FromSeconds(60), "failed inserts");

        TestProcess.Signal(replay.Id, "INT");
        await Task.Delay(500);
        Assert.False(replay.HasExited, "the first Ctrl+C waits for the flush");
        TestProcess.Signal(replay.Id, "INT");
        Assert.True(await replay.WaitForExitAsync(TimeSpan.FromSeconds(20)), $"replay ignored a second Ctrl+C\n{replay.Stderr}");
        Assert.NotEqual(0, replay.ExitCode);
    }

    [GeneratedRegex(@"^replay: sensor (\S+), (\d+) file\(s\), (\d+) failed; (\d+) packets \((\d+) decoded, (\d+) undecodable\), (\d+) IP bytes in ")]
    private static partial Regex Summary();

    [GeneratedRegex(@" in ([\d.]+) s \(\d+ packets/s\); rows written: .*; reading took ([\d.]+) s \(process CPU ([\d.]+) s since it started\), the flush after it ([\d.]+) s \(([\d.]+) s CPU\)$")]
    private static partial Regex Phases();
}
