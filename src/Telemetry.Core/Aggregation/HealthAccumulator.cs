using Telemetry.Core.Decode;

namespace Telemetry.Core.Aggregation;

/// <summary>Ingest health of one sensor in one window; every field is additive.</summary>
public sealed class HealthRow
{
    public HealthRow(int sensorId, long windowStartNs)
    {
        SensorId = sensorId;
        WindowStartNs = windowStartNs;
    }

    public int SensorId { get; }

    public long WindowStartNs { get; }

    public long PacketsSeen { get; set; }

    public long Decoded { get; set; }

    /// <summary>Captured frame bytes as the capture reports them on the wire (original lengths).</summary>
    public long WireBytes { get; set; }

    public long[] Undecodable { get; } = new long[DecodeStatuses.ReasonCount + 1];

    public long CaptureDrops { get; set; }

    public long CaptureErrors { get; set; }

    public void Add(HealthRow other)
    {
        PacketsSeen += other.PacketsSeen;
        Decoded += other.Decoded;
        WireBytes += other.WireBytes;
        CaptureDrops += other.CaptureDrops;
        CaptureErrors += other.CaptureErrors;
        for (int i = 0; i < Undecodable.Length; i++)
        {
            Undecodable[i] += other.Undecodable[i];
        }
    }
}

/// <summary>Collects health deltas from readers; the flusher takes everything each tick.</summary>
public sealed class HealthAccumulator
{
    private readonly Lock _gate = new();
    private Dictionary<(int, long), HealthRow> _rows = [];

    public void Add(HealthRow delta)
    {
        lock (_gate)
        {
            if (!_rows.TryGetValue((delta.SensorId, delta.WindowStartNs), out HealthRow? row))
            {
                row = new HealthRow(delta.SensorId, delta.WindowStartNs);
                _rows.Add((delta.SensorId, delta.WindowStartNs), row);
            }

            row.Add(delta);
        }
    }

    public List<HealthRow> TakeAll()
    {
        Dictionary<(int, long), HealthRow> taken;
        lock (_gate)
        {
            taken = _rows;
            _rows = [];
        }

        return [.. taken.Values];
    }
}
