using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Telemetry.Core.Aggregation;

namespace Telemetry.ClickHouse;

/// <summary>
/// Writes each flush as RowBinary INSERTs, one per table, split past
/// <see cref="ClickHouseOptions.MaxRowsPerInsert"/> rows, retrying each insert with capped
/// exponential backoff until it succeeds or the service stops.
/// </summary>
/// <remarks>
/// Rows go straight from the window tables' entries into the request as it is sent (see
/// <see cref="RowChunk"/>): no row objects, no per-address arrays, nothing allocated per row.
/// A flush of millions of rows holds 4 bytes per row of <see cref="ClickHouseOptions.ConcurrentInserts"/>
/// chunks (their positions in the tables), and a retry sends the very bytes it sent before.
/// </remarks>
public sealed partial class ClickHouseSink : IRollupSink
{
    private readonly ClickHouseStore _store;
    private readonly ITelemetryEvents _events;
    private readonly ILogger _logger;
    private readonly SensorNameCache _sensors = new();
    private readonly Dictionary<string, byte[]> _statements = [];

    // Used by one flush at a time (flushes do not overlap) and kept between flushes: the writers
    // (which share one row order) and the chunks, each with room for its rows' positions.
    private readonly ITableRowWriter[] _writers;
    private readonly List<RowChunk> _chunks = [];

    public ClickHouseSink(ClickHouseStore store, ITelemetryEvents events, ILogger<ClickHouseSink> logger)
    {
        _store = store;
        _events = events;
        _logger = logger;
        _writers = Writers(_sensors);
        foreach (ITableRowWriter writer in _writers)
        {
            _statements.Add(writer.Table, RowBinary.InsertStatement(store.Database, writer.Table, writer.Columns));
        }
    }

    public async Task WriteAsync(RollupBatch batch, CancellationToken cancellationToken)
    {
        // Each chunk is an INSERT of its own and is retried on its own: when a later chunk fails,
        // only it is sent again, never the chunks the server has already stored (which a retry of
        // the whole table would store twice). Up to ConcurrentInserts chunks are in flight, each
        // encoded as it is sent; the next chunk's rows are taken meanwhile.
        int concurrency = _store.Options.ConcurrentInserts;
        var inFlight = new Queue<(Task Insert, RowChunk Chunk)>(concurrency);
        var idle = new Stack<RowChunk>(_chunks);
        int maxRows = _store.Options.MaxRowsPerInsert;
        try
        {
            foreach (ITableRowWriter writer in _writers)
            {
                writer.Start(batch);
                while (true)
                {
                    RowChunk chunk = await NextChunkAsync();
                    long started = Stopwatch.GetTimestamp();
                    int rows = writer.Take(chunk, maxRows);
                    if (rows == 0)
                    {
                        idle.Push(chunk);
                        break;
                    }

                    inFlight.Enqueue((InsertChunkAsync(writer.Table, chunk, Stopwatch.GetElapsedTime(started), cancellationToken), chunk));
                }
            }

            while (inFlight.TryDequeue(out (Task Insert, RowChunk _) chunk))
            {
                await chunk.Insert;
            }
        }
        finally
        {
            // A cancelled flush still lets the inserts in flight end before their chunks are reused.
            foreach ((Task insert, _) in inFlight)
            {
                try
                {
                    await insert;
                }
                catch (OperationCanceledException)
                {
                }
            }

            // The writers and chunks are kept for the next flush, but not the batch's tables: the
            // engine may let them go (its pool keeps only so many), and so must everything here.
            foreach (ITableRowWriter writer in _writers)
            {
                writer.Start(null);
            }

            foreach (RowChunk chunk in _chunks)
            {
                chunk.Release();
            }
        }

        // An idle chunk, a new one while fewer than ConcurrentInserts exist, or else the chunk of
        // the oldest insert once it has ended. Chunks are kept for the next flush.
        async ValueTask<RowChunk> NextChunkAsync()
        {
            if (idle.TryPop(out RowChunk? free))
            {
                return free;
            }

            if (_chunks.Count < concurrency)
            {
                var fresh = new RowChunk();
                _chunks.Add(fresh);
                return fresh;
            }

            (Task oldest, RowChunk chunk) = inFlight.Dequeue();
            await oldest;
            return chunk;
        }
    }

    /// <summary>The writers of the four tables, in the order they are inserted.</summary>
    internal static ITableRowWriter[] Writers(SensorNameCache sensors, RowOrder? order = null) =>
    [
        new WindowRowWriter<CompactAddressKey, TargetStats, TargetLayout>(sensors, order ??= new RowOrder()),
        new WindowRowWriter<PortKey, PortStats, PortLayout>(sensors, order),
        new WindowRowWriter<CompactAddressKey, SourceStats, SourceLayout>(sensors, order),
        new HealthRowWriter(sensors),
    ];

    private async Task InsertChunkAsync(string table, RowChunk chunk, TimeSpan taking, CancellationToken cancellationToken)
    {
        TimeSpan delay = _store.Options.RetryDelay;
        for (int attempt = 1; ; attempt++)
        {
            long started = Stopwatch.GetTimestamp();
            try
            {
                // The body is the INSERT statement, a newline and the rows, and the URL names no
                // query: ClickHouse then reads the statement from the body and the data after it,
                // the same request ClickHouse.Driver's typed binary inserts make (its
                // InsertRawStreamAsync would put the statement in the URL instead). The body goes
                // uncompressed, as the typed inserts' did (18.16 has no zstd), and is encoded
                // while it is sent; a retry encodes the same rows into the same bytes.
                using Stream body = chunk.OpenRead(_statements[table]);
                using HttpResponseMessage response = await _store.Client.PostStreamAsync(
                    string.Empty, body, isCompressed: false, cancellationToken);
                _events.RowsFlushed(table, chunk.Rows, taking + Stopwatch.GetElapsedTime(started));
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _events.FlushFailed(table);
                LogInsertFailed(ex, table, chunk.Rows, attempt, delay.TotalSeconds);
                await Task.Delay(delay, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _store.Options.MaxRetryDelay.Ticks));
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Insert of {Rows} rows into {Table} failed (attempt {Attempt}); retrying in {Seconds:F1} s")]
    private partial void LogInsertFailed(Exception exception, string table, int rows, int attempt, double seconds);
}
