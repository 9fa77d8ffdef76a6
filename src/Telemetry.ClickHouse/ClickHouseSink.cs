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
/// Rows go straight from the window tables' entries into a pooled buffer (see
/// <see cref="RowBinary"/>): no row objects, no per-address arrays, nothing allocated per row.
/// A flush of millions of rows holds the bytes of <see cref="ClickHouseOptions.ConcurrentInserts"/>
/// chunks (about 7 MB each at 100,000 target rows), and a retry sends the very bytes it sent before.
/// </remarks>
public sealed partial class ClickHouseSink : IRollupSink
{
    private readonly ClickHouseStore _store;
    private readonly ITelemetryEvents _events;
    private readonly ILogger _logger;
    private readonly SensorNameCache _sensors = new();
    private readonly Dictionary<string, byte[]> _statements = [];

    // Shared by the writers of one flush at a time (flushes do not overlap), kept between flushes.
    private readonly RowOrder _order = new();

    public ClickHouseSink(ClickHouseStore store, ITelemetryEvents events, ILogger<ClickHouseSink> logger)
    {
        _store = store;
        _events = events;
        _logger = logger;
        foreach (ITableRowWriter writer in Writers(_sensors))
        {
            _statements.Add(writer.Table, RowBinary.InsertStatement(store.Database, writer.Table, writer.Columns));
        }
    }

    public async Task WriteAsync(RollupBatch batch, CancellationToken cancellationToken)
    {
        // Each chunk is an INSERT of its own and is retried on its own: when a later chunk fails,
        // only it is sent again, never the chunks the server has already stored (which a retry of
        // the whole table would store twice). Up to ConcurrentInserts chunks are in flight, each
        // with its own buffer; the next chunk is encoded meanwhile.
        int concurrency = _store.Options.ConcurrentInserts;
        var buffers = new List<RowBinaryBuffer>(concurrency);
        var inFlight = new Queue<(Task Insert, RowBinaryBuffer Body)>(concurrency);
        var idle = new Stack<RowBinaryBuffer>(concurrency);
        int maxRows = _store.Options.MaxRowsPerInsert;
        try
        {
            foreach (ITableRowWriter writer in Writers(_sensors, _order))
            {
                byte[] statement = _statements[writer.Table];
                writer.Start(batch);
                while (true)
                {
                    RowBinaryBuffer buffer = await NextBufferAsync();
                    long started = Stopwatch.GetTimestamp();
                    buffer.Clear();
                    buffer.Write(statement);
                    int rows = writer.WriteRows(buffer, maxRows);
                    if (rows == 0)
                    {
                        idle.Push(buffer);
                        break;
                    }

                    inFlight.Enqueue((InsertChunkAsync(writer.Table, buffer, rows, Stopwatch.GetElapsedTime(started), cancellationToken), buffer));
                }
            }

            while (inFlight.TryDequeue(out (Task Insert, RowBinaryBuffer _) chunk))
            {
                await chunk.Insert;
            }
        }
        finally
        {
            // A cancelled flush still lets the inserts in flight end before their buffers go back.
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

            foreach (RowBinaryBuffer body in buffers)
            {
                body.Dispose();
            }
        }

        // An idle buffer, a new one while fewer than ConcurrentInserts exist, or else the buffer
        // of the oldest insert once it has ended.
        async ValueTask<RowBinaryBuffer> NextBufferAsync()
        {
            if (idle.TryPop(out RowBinaryBuffer? free))
            {
                return free;
            }

            if (buffers.Count < concurrency)
            {
                var fresh = new RowBinaryBuffer();
                buffers.Add(fresh);
                return fresh;
            }

            (Task oldest, RowBinaryBuffer body) = inFlight.Dequeue();
            await oldest;
            return body;
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

    private async Task InsertChunkAsync(string table, RowBinaryBuffer body, int rows, TimeSpan encoding, CancellationToken cancellationToken)
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
                // uncompressed, as the typed inserts' did (18.16 has no zstd).
                using HttpResponseMessage response = await _store.Client.PostStreamAsync(
                    string.Empty, body.OpenRead(), isCompressed: false, cancellationToken);
                _events.RowsFlushed(table, rows, encoding + Stopwatch.GetElapsedTime(started));
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _events.FlushFailed(table);
                LogInsertFailed(ex, table, rows, attempt, delay.TotalSeconds);
                await Task.Delay(delay, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _store.Options.MaxRetryDelay.Ticks));
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Insert of {Rows} rows into {Table} failed (attempt {Attempt}); retrying in {Seconds:F1} s")]
    private partial void LogInsertFailed(Exception exception, string table, int rows, int attempt, double seconds);
}
