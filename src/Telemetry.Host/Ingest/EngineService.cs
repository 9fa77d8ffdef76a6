using Microsoft.Extensions.Options;
using Telemetry.ClickHouse;
using Telemetry.Core.Aggregation;

namespace Telemetry.Host.Ingest;

/// <summary>
/// Owns the aggregation engine's lifetime. Registered first, so it starts first (after the
/// schema is in place) and stops last: every source has stopped reading before the final flush.
/// </summary>
internal sealed partial class EngineService(
    AggregationEngine engine,
    ClickHouseStore store,
    IOptions<ClickHouseOptions> options,
    ILogger<EngineService> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.CreateSchema)
        {
            await store.EnsureSchemaAsync(cancellationToken);
        }

        ServerVersion version = await store.GetVersionAsync(cancellationToken);
        LogStarted(options.Value.Url, store.Database, version);
        engine.Start();
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        LogDraining();
        await engine.CompleteAsync().WaitAsync(cancellationToken);
        LogDrained();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Writing rollups to {Url}, database {Database} (ClickHouse {Version})")]
    private partial void LogStarted(Uri url, string database, ServerVersion version);

    [LoggerMessage(Level = LogLevel.Information, Message = "Flushing every open window before exit")]
    private partial void LogDraining();

    [LoggerMessage(Level = LogLevel.Information, Message = "All windows flushed")]
    private partial void LogDrained();
}
