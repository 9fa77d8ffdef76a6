namespace Telemetry.Core.Ingest;

/// <summary>What one capture stream delivered, and why it stopped early if it did.</summary>
public sealed record IngestResult(string Origin, string Sensor, long Packets, long Decoded, long Bytes, string? Error)
{
    public bool Failed => Error is not null;
}
