using Microsoft.Extensions.Logging.Abstractions;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Capture;
using Telemetry.Core.Ingest;

namespace Telemetry.Core.Tests.Support;

/// <summary>A started engine with a recording sink, and an ingestor feeding it from byte arrays.</summary>
internal sealed class EngineHarness : IAsyncDisposable
{
    public EngineHarness(AggregationOptions options, int maxRecordBytes = CaptureReader.DefaultMaxRecordBytes)
    {
        Engine = new AggregationEngine(options, Sink, NullLogger<AggregationEngine>.Instance);
        Engine.Start();
        Ingestor = new CaptureIngestor(Engine, Events, NullLogger<CaptureIngestor>.Instance, maxRecordBytes);
    }

    public RecordingSink Sink { get; } = new();

    public RecordingEvents Events { get; } = new();

    public AggregationEngine Engine { get; }

    public CaptureIngestor Ingestor { get; }

    public static AggregationOptions Options(int shards, int windowSeconds = 60) => new()
    {
        Shards = shards,
        Window = TimeSpan.FromSeconds(windowSeconds),
        FlushInterval = TimeSpan.FromMilliseconds(50),
    };

    public SensorState Sensor(string name) => Engine.Sensors.GetOrAdd(name);

    public async Task<IngestResult> IngestAsync(string sensor, byte[] capture)
    {
        using var stream = new MemoryStream(capture, writable: false);
        return await IngestAsync(sensor, stream);
    }

    public Task<IngestResult> IngestAsync(string sensor, Stream stream) =>
        Ingestor.IngestAsync(stream, Sensor(sensor), $"test:{sensor}", CancellationToken.None);

    public Task CompleteAsync() => Engine.CompleteAsync();

    public ValueTask DisposeAsync() => Engine.DisposeAsync();
}
