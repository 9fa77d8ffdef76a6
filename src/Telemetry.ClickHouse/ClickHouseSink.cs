using System.Diagnostics;
using ClickHouse.Driver;
using Microsoft.Extensions.Logging;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;

namespace Telemetry.ClickHouse;

/// <summary>
/// Writes each flush as one RowBinary INSERT per table (split past
/// <see cref="ClickHouseOptions.MaxRowsPerInsert"/>), retrying each insert with capped
/// exponential backoff until it succeeds or the service stops.
/// </summary>
public sealed partial class ClickHouseSink : IRollupSink
{
    private readonly ClickHouseStore _store;
    private readonly ITelemetryEvents _events;
    private readonly ILogger _logger;
    private readonly InsertOptions _insertOptions;

    public ClickHouseSink(ClickHouseStore store, ITelemetryEvents events, ILogger<ClickHouseSink> logger)
    {
        _store = store;
        _events = events;
        _logger = logger;
        _insertOptions = new InsertOptions
        {
            // 18.16 rejects zstd and lz4 request bodies; rollup rows are small, so send them plain.
            Compressor = null,
            BatchSize = store.Options.MaxRowsPerInsert,
        };
    }

    public async Task WriteAsync(RollupBatch batch, CancellationToken cancellationToken)
    {
        string db = _store.Database;
        var targets = new List<TargetRow>();
        var ports = new List<PortRow>();
        var sources = new List<SourceRow>();
        foreach (WindowTables window in batch.Windows)
        {
            DateTime start = ToDateTime(window.WindowStartNs);
            string sensor = batch.Sensors[window.SensorId].Name;
            foreach (KeyValuePair<AddressPortKey, TargetStats> pair in window.Targets)
            {
                targets.Add(new TargetRow
                {
                    WindowStart = start,
                    Sensor = sensor,
                    DstIp = Bytes(pair.Key.Address),
                    Proto = pair.Key.Port.Protocol,
                    DstPort = pair.Key.Port.Port,
                    Class = pair.Key.Port.Class.Name(),
                    Packets = pair.Value.Packets,
                    IpBytes = pair.Value.Bytes,
                    Sources = (ulong)pair.Value.Sources.Count(),
                    FirstSeen = ToDateTime(pair.Value.FirstNs),
                    LastSeen = ToDateTime(pair.Value.LastNs),
                });
            }

            foreach (KeyValuePair<PortKey, PortStats> pair in window.Ports)
            {
                ports.Add(new PortRow
                {
                    WindowStart = start,
                    Sensor = sensor,
                    Proto = pair.Key.Protocol,
                    DstPort = pair.Key.Port,
                    Class = pair.Key.Class.Name(),
                    Packets = pair.Value.Packets,
                    IpBytes = pair.Value.Bytes,
                    Sources = (ulong)pair.Value.Sources.Count(),
                    Targets = (ulong)pair.Value.Targets.Count(),
                });
            }

            foreach (KeyValuePair<AddressPortKey, SourceStats> pair in window.Sources)
            {
                sources.Add(new SourceRow
                {
                    WindowStart = start,
                    Sensor = sensor,
                    SrcIp = Bytes(pair.Key.Address),
                    Proto = pair.Key.Port.Protocol,
                    DstPort = pair.Key.Port.Port,
                    Class = pair.Key.Port.Class.Name(),
                    Packets = pair.Value.Packets,
                    IpBytes = pair.Value.Bytes,
                    Targets = (ulong)pair.Value.Targets.Count(),
                });
            }
        }

        var health = new List<HealthRowData>(batch.Health.Count);
        foreach (HealthRow row in batch.Health)
        {
            long[] u = row.Undecodable;
            health.Add(new HealthRowData
            {
                WindowStart = ToDateTime(row.WindowStartNs),
                Sensor = batch.Sensors[row.SensorId].Name,
                PacketsSeen = (ulong)row.PacketsSeen,
                PacketsDecoded = (ulong)row.Decoded,
                WireBytes = (ulong)row.WireBytes,
                UnsupportedLinkType = (ulong)u[(int)DecodeStatus.UnsupportedLinkType],
                NonIp = (ulong)u[(int)DecodeStatus.NonIp],
                TruncatedLink = (ulong)u[(int)DecodeStatus.TruncatedLink],
                TruncatedIp = (ulong)u[(int)DecodeStatus.TruncatedIp],
                BadIpHeader = (ulong)u[(int)DecodeStatus.BadIpHeader],
                TruncatedTransport = (ulong)u[(int)DecodeStatus.TruncatedTransport],
                CaptureDrops = (ulong)row.CaptureDrops,
                CaptureErrors = (ulong)row.CaptureErrors,
            });
        }

        await InsertAsync($"{db}.{Schema.TargetTable}", Schema.TargetTable, targets, cancellationToken);
        await InsertAsync($"{db}.{Schema.PortTable}", Schema.PortTable, ports, cancellationToken);
        await InsertAsync($"{db}.{Schema.SourceTable}", Schema.SourceTable, sources, cancellationToken);
        await InsertAsync($"{db}.{Schema.HealthTable}", Schema.HealthTable, health, cancellationToken);
    }

    private async Task InsertAsync<T>(string qualified, string table, List<T> rows, CancellationToken cancellationToken)
        where T : class
    {
        // Each chunk is an INSERT of its own and is retried on its own: when a later chunk fails,
        // only it is sent again, never the chunks the server has already stored (which a retry of
        // the whole list would store twice).
        int size = _store.Options.MaxRowsPerInsert;
        for (int start = 0; start < rows.Count; start += size)
        {
            List<T> chunk = rows.Count <= size ? rows : rows.GetRange(start, Math.Min(size, rows.Count - start));
            await InsertChunkAsync(qualified, table, chunk, cancellationToken);
        }
    }

    private async Task InsertChunkAsync<T>(string qualified, string table, List<T> rows, CancellationToken cancellationToken)
        where T : class
    {
        TimeSpan delay = _store.Options.RetryDelay;
        for (int attempt = 1; ; attempt++)
        {
            var stopwatch = Stopwatch.StartNew();
            try
            {
                await _store.Client.InsertBinaryAsync(qualified, rows, _insertOptions, cancellationToken);
                _events.RowsFlushed(table, rows.Count, stopwatch.Elapsed);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _events.FlushFailed(table);
                LogInsertFailed(ex, table, rows.Count, attempt, delay.TotalSeconds);
                await Task.Delay(delay, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _store.Options.MaxRetryDelay.Ticks));
            }
        }
    }

    private static DateTime ToDateTime(long unixNs) => DateTime.UnixEpoch.AddTicks(unixNs / 100);

    private static byte[] Bytes(Telemetry.Core.Net.IpAddr address)
    {
        byte[] bytes = new byte[16];
        address.WriteBytes(bytes);
        return bytes;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Insert of {Rows} rows into {Table} failed (attempt {Attempt}); retrying in {Seconds:F1} s")]
    private partial void LogInsertFailed(Exception exception, string table, int rows, int attempt, double seconds);
}
