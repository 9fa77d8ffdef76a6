using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Ingest;

namespace Telemetry.Benchmarks;

/// <summary>
/// <c>engine SHARDS FILE…</c>: the whole ingest path (PipeReader, framing, decode, shards,
/// flusher) into a sink that only counts rows, one file after another in one process, so the
/// later files show the steady state once pools and tables have grown. Give files with
/// consecutive time ranges (generate --start), or the later ones are all late.
/// </summary>
internal static class EngineLoad
{
    public static async Task RunAsync(string[] args)
    {
        int shards = int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
        var sink = new CountingSink();
        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        await RunFilesAsync(shards, sink, args.Skip(1), (file, result, seconds, engine) =>
        {
            long now = GC.GetTotalAllocatedBytes(precise: true);
            double perPacket = (now - allocated) / (double)Math.Max(1, result.Packets);
            allocated = now;
            Console.WriteLine($"{Path.GetFileName(file)}: {result.Packets} packets in {seconds:F2} s = {result.Packets / seconds:F0} packets/s, {perPacket:F1} B allocated per packet; "
                + $"open windows hold {engine.OpenKeys} keys, {engine.OpenBytes / (double)Math.Max(1, engine.OpenKeys):F0} B charged per key; "
                + $"{Interlocked.Read(ref engine.TableSetsBuilt)} table sets built, {Interlocked.Read(ref engine.TableGrowths)} table growths so far");
        });
        Console.WriteLine($"shards {shards}: {Interlocked.Read(ref sink.Rows)} rows flushed, peak working set {Process.GetCurrentProcess().PeakWorkingSet64 >> 20} MiB");
        double keys = Math.Max(1, sink.Keys);
        Console.WriteLine($"windows written: {sink.Keys} keys; {sink.ChargedBytes / keys:F1} B charged and {sink.ArrayBytes / keys:F1} B of table and fingerprint arrays per key");
        Console.WriteLine($"  target rows {sink.TargetKeys} ({sink.TargetBytes / Math.Max(1.0, sink.TargetKeys):F1} B each), source rows {sink.SourceKeys} ({sink.SourceBytes / Math.Max(1.0, sink.SourceKeys):F1} B each), "
            + $"fingerprints {sink.Fingerprints} ({sink.FingerprintBytes / Math.Max(1.0, sink.Fingerprints):F1} B each)");
    }

    /// <summary>Runs the files through one engine and sensor, in order, calling back after each with its seconds.</summary>
    public static async Task RunFilesAsync(int shards, IRollupSink sink, IEnumerable<string> files, Action<string, IngestResult, double, AggregationEngine> fileDone)
    {
        var engine = new AggregationEngine(new AggregationOptions { Shards = shards }, sink, NullLogger<AggregationEngine>.Instance);
        var ingestor = new CaptureIngestor(engine, NullTelemetryEvents.Instance, NullLogger<CaptureIngestor>.Instance);
        SensorState sensor = engine.Sensors.GetOrAdd("bench");
        engine.Start();
        AggregationEngine.SourceStarted(sensor);
        foreach (string file in files)
        {
            var stopwatch = Stopwatch.StartNew();
            IngestResult result;
            await using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan | FileOptions.Asynchronous))
            {
                result = await ingestor.IngestAsync(stream, sensor, file, CancellationToken.None);
            }

            fileDone(file, result, stopwatch.Elapsed.TotalSeconds, engine);
        }

        await engine.SourceEndedAsync(sensor, CancellationToken.None);
        await engine.CompleteAsync();
    }

    private sealed class CountingSink : IRollupSink
    {
        public long Rows;

        // Over every window written: its keys, the bytes charged for it and its arrays' bytes.
        public long Keys;
        public long ChargedBytes;
        public long ArrayBytes;

        // The same split by structure: target rows, source rows, fingerprints (count, array bytes).
        public long TargetKeys, TargetBytes, SourceKeys, SourceBytes, Fingerprints, FingerprintBytes;

        public Task WriteAsync(RollupBatch batch, CancellationToken cancellationToken)
        {
            Interlocked.Add(ref Rows, batch.TargetRows + batch.PortRows + batch.SourceRows);
            foreach (WindowTables window in batch.Windows)
            {
                Interlocked.Add(ref Keys, window.KeyCount);
                Interlocked.Add(ref ChargedBytes, window.ApproximateBytes);
                Interlocked.Add(ref ArrayBytes, window.CapacityBytes);
                Interlocked.Add(ref TargetKeys, window.Targets.Count);
                Interlocked.Add(ref TargetBytes, window.Targets.CapacityBytes);
                Interlocked.Add(ref SourceKeys, window.Sources.Count);
                Interlocked.Add(ref SourceBytes, window.Sources.CapacityBytes);
                Interlocked.Add(ref Fingerprints, window.Seen.Count);
                Interlocked.Add(ref FingerprintBytes, window.Seen.CapacityBytes);
            }

            return Task.CompletedTask;
        }
    }
}
