using Microsoft.Extensions.Options;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Ingest;

namespace Telemetry.Host.Ingest;

/// <summary>
/// Watches directories for rotated capture files (tcpdump -G / -C) and ingests each once it
/// is closed: when its size and time have not changed for the settle time, or a newer file
/// has appeared beside it.
/// </summary>
internal sealed partial class DirectoryWatchService(
    AggregationEngine engine,
    CaptureIngestor ingestor,
    IOptions<IngestOptions> options,
    ILogger<DirectoryWatchService> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(options.Value.WatchDirectories.Select(w => WatchAsync(w, stoppingToken)));

    private async Task WatchAsync(WatchDirectoryOptions watch, CancellationToken stoppingToken)
    {
        SensorState sensor = engine.Sensors.GetOrAdd(watch.Sensor);
        AggregationEngine.SourceStarted(sensor);
        var done = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, (long Size, DateTime Written, DateTime Since)>(StringComparer.Ordinal);
        LogWatching(watch.Path, watch.Sensor);
        try
        {
            using var timer = new PeriodicTimer(watch.PollInterval);
            do
            {
                if (!Directory.Exists(watch.Path))
                {
                    continue;
                }

                var files = new DirectoryInfo(watch.Path).GetFiles()
                    .Where(f => !f.Name.StartsWith('.') && !done.Contains(f.FullName))
                    .OrderBy(f => f.LastWriteTimeUtc).ThenBy(f => f.Name, StringComparer.Ordinal)
                    .ToList();
                DateTime now = DateTime.UtcNow;
                for (int i = 0; i < files.Count; i++)
                {
                    FileInfo file = files[i];
                    bool newerExists = i < files.Count - 1;
                    if (!seen.TryGetValue(file.FullName, out var state) || state.Size != file.Length || state.Written != file.LastWriteTimeUtc)
                    {
                        seen[file.FullName] = (file.Length, file.LastWriteTimeUtc, now);
                        if (!newerExists)
                        {
                            continue;
                        }
                    }
                    else if (!newerExists && now - state.Since < watch.SettleTime)
                    {
                        continue;
                    }

                    done.Add(file.FullName);
                    seen.Remove(file.FullName);
                    await IngestFileAsync(file.FullName, sensor, stoppingToken);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            await engine.SourceEndedAsync(sensor, CancellationToken.None);
        }
    }

    private async Task IngestFileAsync(string path, SensorState sensor, CancellationToken stoppingToken)
    {
        Interlocked.Increment(ref sensor.OpenConnections);
        try
        {
            await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan | FileOptions.Asynchronous);
            IngestResult result = await ingestor.IngestAsync(stream, sensor, path, stoppingToken);
            LogIngested(path, result.Packets, result.Failed ? "failed: " + result.Error : "ok");
        }
        catch (IOException ex)
        {
            LogUnreadable(path, ex.Message);
        }
        finally
        {
            Interlocked.Decrement(ref sensor.OpenConnections);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Watching {Path} for closed capture files (sensor {Sensor})")]
    private partial void LogWatching(string path, string sensor);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ingested {Path}: {Packets} packets, {Outcome}")]
    private partial void LogIngested(string path, long packets, string outcome);

    [LoggerMessage(Level = LogLevel.Error, Message = "Cannot read {Path}: {Reason}")]
    private partial void LogUnreadable(string path, string reason);
}

/// <summary>Reads one capture from standard input (<c>tcpdump -w - | telemetry serve --Ingest:Stdin:Enabled=true</c>).</summary>
internal sealed partial class StdinService(
    AggregationEngine engine,
    CaptureIngestor ingestor,
    IOptions<IngestOptions> options,
    ILogger<StdinService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Stdin.Enabled)
        {
            return;
        }

        SensorState sensor = engine.Sensors.GetOrAdd(options.Value.Stdin.Sensor);
        AggregationEngine.SourceStarted(sensor);
        Interlocked.Increment(ref sensor.OpenConnections);
        try
        {
            await using Stream stdin = Console.OpenStandardInput();
            IngestResult result = await ingestor.IngestAsync(stdin, sensor, "stdin", stoppingToken);
            LogDone(result.Packets);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            Interlocked.Decrement(ref sensor.OpenConnections);
            await engine.SourceEndedAsync(sensor, CancellationToken.None);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Standard input ended after {Packets} packets")]
    private partial void LogDone(long packets);
}
