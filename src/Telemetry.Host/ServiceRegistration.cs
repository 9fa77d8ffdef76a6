using Microsoft.Extensions.Options;
using Prometheus;
using Telemetry.ClickHouse;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Ingest;
using Telemetry.Prometheus;

namespace Telemetry.Host;

internal static class ServiceRegistration
{
    /// <summary>Options, engine, ingestor, ClickHouse sink and metrics: what every verb that ingests needs.</summary>
    public static IServiceCollection AddTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ClickHouseOptions>().Bind(configuration.GetSection(ClickHouseOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<AggregationOptions>().Bind(configuration.GetSection(AggregationOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<IngestOptions>().Bind(configuration.GetSection(IngestOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<SimulatorOptions>().Bind(configuration.GetSection(SimulatorOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<ClickHouseOptions>>().Value);
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<AggregationOptions>>().Value);
        services.AddSingleton<ClickHouseStore>();
        services.AddSingleton<IRollupSink, ClickHouseSink>();
        services.AddSingleton(_ => new TelemetryMetrics(Metrics.DefaultRegistry));
        services.AddSingleton<RowCounter>();
        services.AddSingleton<ITelemetryEvents>(sp => new CompositeEvents(sp.GetRequiredService<TelemetryMetrics>(), sp.GetRequiredService<RowCounter>()));
        services.AddSingleton(sp =>
        {
            var engine = new AggregationEngine(
                sp.GetRequiredService<AggregationOptions>(),
                sp.GetRequiredService<IRollupSink>(),
                sp.GetRequiredService<ILogger<AggregationEngine>>());
            sp.GetRequiredService<TelemetryMetrics>().Attach(engine);
            return engine;
        });
        services.AddSingleton(sp => new CaptureIngestor(
            sp.GetRequiredService<AggregationEngine>(),
            sp.GetRequiredService<ITelemetryEvents>(),
            sp.GetRequiredService<ILogger<CaptureIngestor>>(),
            sp.GetRequiredService<IOptions<IngestOptions>>().Value.MaxRecordBytes));
        return services;
    }
}

/// <summary>Counts rows written per table, for the replay summary.</summary>
internal sealed class RowCounter : ITelemetryEvents
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _rows = new(StringComparer.Ordinal);

    public long this[string table] => _rows.GetValueOrDefault(table);

    public long Failures;

    public void CaptureError(string sensor, string kind)
    {
    }

    public void RowsFlushed(string table, long rows, TimeSpan elapsed) => _rows.AddOrUpdate(table, rows, (_, old) => old + rows);

    public void FlushFailed(string table) => Interlocked.Increment(ref Failures);
}

internal sealed class CompositeEvents(params ITelemetryEvents[] targets) : ITelemetryEvents
{
    public void CaptureError(string sensor, string kind)
    {
        foreach (ITelemetryEvents target in targets)
        {
            target.CaptureError(sensor, kind);
        }
    }

    public void RowsFlushed(string table, long rows, TimeSpan elapsed)
    {
        foreach (ITelemetryEvents target in targets)
        {
            target.RowsFlushed(table, rows, elapsed);
        }
    }

    public void FlushFailed(string table)
    {
        foreach (ITelemetryEvents target in targets)
        {
            target.FlushFailed(table);
        }
    }
}
