using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;

namespace Telemetry.Core.Tests.Support;

/// <summary>Where a row came from: sensor, window and the window's flags.</summary>
internal sealed record WindowInfo(string Sensor, long WindowStartNs, bool IsLate, bool IsEarly);

internal sealed record TargetRow(WindowInfo Window, IpAddr Destination, byte Protocol, TrafficClass Class, ushort Port, ulong Packets, ulong Bytes, long FirstSecond, long LastSecond, long Sources);

internal sealed record PortRow(WindowInfo Window, byte Protocol, TrafficClass Class, ushort Port, ulong Packets, ulong Bytes, long Sources, long Targets);

internal sealed record SourceRow(WindowInfo Window, IpAddr Source, byte Protocol, TrafficClass Class, ushort Port, ulong Packets, ulong Bytes, long Targets);

internal sealed record HealthCopy(string Sensor, long WindowStartNs, long PacketsSeen, long Decoded, long WireBytes, long[] Undecodable, long CaptureDrops, long CaptureErrors);

/// <summary>
/// Keeps a copy of every row the engine writes. The engine returns the tables to its pool once
/// <see cref="WriteAsync"/> returns, so everything is copied out here.
/// </summary>
internal sealed class RecordingSink : IRollupSink
{
    private readonly Lock _gate = new();
    private readonly List<WindowInfo> _windows = [];
    private readonly List<TargetRow> _targets = [];
    private readonly List<PortRow> _ports = [];
    private readonly List<SourceRow> _sources = [];
    private readonly List<HealthCopy> _health = [];

    public IReadOnlyList<WindowInfo> Windows => Snapshot(_windows);

    public IReadOnlyList<TargetRow> Targets => Snapshot(_targets);

    public IReadOnlyList<PortRow> Ports => Snapshot(_ports);

    public IReadOnlyList<SourceRow> Sources => Snapshot(_sources);

    public IReadOnlyList<HealthCopy> Health => Snapshot(_health);

    public ulong TotalPackets
    {
        get
        {
            lock (_gate)
            {
                return _targets.Aggregate(0UL, (sum, row) => sum + row.Packets);
            }
        }
    }

    public Task WriteAsync(RollupBatch batch, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (WindowTables tables in batch.Windows)
            {
                var window = new WindowInfo(batch.Sensors[tables.SensorId].Name, tables.WindowStartNs, tables.IsLate, tables.IsEarly);
                _windows.Add(window);
                foreach ((AddressPortKey key, TargetStats value) in tables.Targets)
                {
                    _targets.Add(new TargetRow(window, key.Address, key.Port.Protocol, key.Port.Class, key.Port.Port,
                        value.Packets, value.Bytes, value.FirstSecond, value.LastSecond, (long)value.Sources));
                }

                foreach ((PortKey key, PortStats value) in tables.Ports)
                {
                    _ports.Add(new PortRow(window, key.Protocol, key.Class, key.Port, value.Packets, value.Bytes, (long)value.Sources, (long)value.Targets));
                }

                foreach ((AddressPortKey key, SourceStats value) in tables.Sources)
                {
                    _sources.Add(new SourceRow(window, key.Address, key.Port.Protocol, key.Port.Class, key.Port.Port, value.Packets, value.Bytes, (long)value.Targets));
                }
            }

            foreach (HealthRow row in batch.Health)
            {
                _health.Add(new HealthCopy(batch.Sensors[row.SensorId].Name, row.WindowStartNs, row.PacketsSeen, row.Decoded, row.WireBytes,
                    (long[])row.Undecodable.Clone(), row.CaptureDrops, row.CaptureErrors));
            }
        }

        return Task.CompletedTask;
    }

    private List<T> Snapshot<T>(List<T> list)
    {
        lock (_gate)
        {
            return [.. list];
        }
    }
}

/// <summary>Records capture-error labels the ingestor reports.</summary>
internal sealed class RecordingEvents : ITelemetryEvents
{
    private readonly List<string> _errors = [];

    public IReadOnlyList<string> Errors
    {
        get
        {
            lock (_errors)
            {
                return [.. _errors];
            }
        }
    }

    public void CaptureError(string sensor, string kind)
    {
        lock (_errors)
        {
            _errors.Add($"{sensor}:{kind}");
        }
    }

    public void RowsFlushed(string table, long rows, TimeSpan elapsed)
    {
    }

    public void FlushFailed(string table)
    {
    }
}
