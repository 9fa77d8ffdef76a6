using System.Globalization;
using Telemetry.Core.Aggregation;

namespace Telemetry.Benchmarks;

/// <summary>
/// <c>keys FILE…</c>: the distinct keys of each window as the engine holds them. The files go
/// through the ingest path as in <c>engine</c> (one shard, in order, one sensor) into a sink
/// that prints one line per flushed window:
/// <c>window=ISO8601 targets=N ports=N sources=N early=B late=B</c>. A window split by the
/// memory cap shows up as several lines with <c>early=True</c>. <c>benchmarks/macro/sweep.sh</c>
/// puts these counts on the x axis instead of assuming them from the generator's options.
/// </summary>
internal static class KeyCount
{
    public static Task RunAsync(string[] args) =>
        EngineLoad.RunFilesAsync(1, new PrintingSink(), args, (file, result, _, _) => Console.WriteLine($"file={Path.GetFileName(file)} packets={result.Packets}"));

    private sealed class PrintingSink : IRollupSink
    {
        public Task WriteAsync(RollupBatch batch, CancellationToken cancellationToken)
        {
            foreach (WindowTables window in batch.Windows)
            {
                string start = DateTimeOffset.FromUnixTimeMilliseconds(window.WindowStartNs / 1_000_000).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
                Console.WriteLine($"window={start} targets={window.Targets.Count} ports={window.Ports.Count} sources={window.Sources.Count} early={window.IsEarly} late={window.IsLate}");
            }

            return Task.CompletedTask;
        }
    }
}
