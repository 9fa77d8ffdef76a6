using System.Diagnostics;
using Telemetry.ClickHouse;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Ingest;

namespace Telemetry.Host.Cli;

/// <summary>
/// <c>replay --sensor NAME PATH…</c>: ingests files in order (directories expand to their files,
/// sorted by name; '-' is stdin), flushes every window and prints a one-line summary. A bad
/// file is reported and skipped; the exit code is 1 if any file failed.
/// </summary>
internal static class ReplayCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        CommandLine line = CommandLine.Parse(args, "sensor");
        string sensorName = line.Get("sensor") ?? "replay";
        List<string> paths = Expand(line.Positional);
        if (paths.Count == 0)
        {
            throw new ArgumentException("replay needs at least one file, directory or '-'");
        }

        using IHost host = CliHost.Build(line.ConfigurationArgs);
        IServiceProvider services = host.Services;
        ClickHouseStore store = services.GetRequiredService<ClickHouseStore>();
        if (services.GetRequiredService<ClickHouseOptions>().CreateSchema)
        {
            await store.EnsureSchemaAsync();
        }

        AggregationEngine engine = services.GetRequiredService<AggregationEngine>();
        CaptureIngestor ingestor = services.GetRequiredService<CaptureIngestor>();
        RowCounter rows = services.GetRequiredService<RowCounter>();
        SensorState sensor = engine.Sensors.GetOrAdd(sensorName);
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            // The first Ctrl+C stops reading and flushes what was read. The flush retries until
            // ClickHouse takes the rows, so a second Ctrl+C ends the process instead of waiting.
            e.Cancel = !cancel.IsCancellationRequested;
            cancel.Cancel();
        };

        var stopwatch = Stopwatch.StartNew();
        engine.Start();
        AggregationEngine.SourceStarted(sensor);
        long packets = 0, decoded = 0, bytes = 0;
        int failed = 0;
        foreach (string path in paths)
        {
            IngestResult result;
            try
            {
                await using Stream stream = path == "-"
                    ? Console.OpenStandardInput()
                    : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan | FileOptions.Asynchronous);
                result = await ingestor.IngestAsync(stream, sensor, path == "-" ? "stdin" : path, cancel.Token);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"replay: {path}: {ex.Message}");
                failed++;
                continue;
            }
            catch (OperationCanceledException)
            {
                await Console.Error.WriteLineAsync("replay: interrupted; flushing what was read");
                failed++;
                break;
            }

            packets += result.Packets;
            decoded += result.Decoded;
            bytes += result.Bytes;
            if (result.Failed)
            {
                failed++;
            }
        }

        double readSeconds = stopwatch.Elapsed.TotalSeconds;
        double readCpu = Environment.CpuUsage.TotalTime.TotalSeconds;
        await engine.SourceEndedAsync(sensor, CancellationToken.None);
        await engine.CompleteAsync();
        stopwatch.Stop();
        double seconds = stopwatch.Elapsed.TotalSeconds;
        double flushCpu = Environment.CpuUsage.TotalTime.TotalSeconds - readCpu;
        bool flushFailed = Interlocked.Read(ref engine.FlushFailures) > 0;
        Console.WriteLine(
            $"replay: sensor {sensorName}, {paths.Count} file(s), {failed} failed; {packets} packets ({decoded} decoded, {packets - decoded} undecodable), " +
            $"{bytes} IP bytes in {seconds:F2} s ({packets / Math.Max(seconds, 1e-9):F0} packets/s); rows written: " +
            $"{Schema.TargetTable}={rows[Schema.TargetTable]} {Schema.PortTable}={rows[Schema.PortTable]} {Schema.SourceTable}={rows[Schema.SourceTable]} {Schema.HealthTable}={rows[Schema.HealthTable]}; " +
            $"reading took {readSeconds:F2} s (process CPU {readCpu:F2} s since it started), the flush after it {seconds - readSeconds:F2} s ({flushCpu:F2} s CPU)" +
            (flushFailed ? "; SOME ROWS WERE NOT WRITTEN" : ""));
        return failed > 0 || flushFailed ? 1 : 0;
    }

    private static List<string> Expand(List<string> arguments)
    {
        var paths = new List<string>();
        foreach (string argument in arguments)
        {
            if (Directory.Exists(argument))
            {
                paths.AddRange(Directory.GetFiles(argument).Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal));
            }
            else
            {
                paths.Add(argument);
            }
        }

        return paths;
    }
}
