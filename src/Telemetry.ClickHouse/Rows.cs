using ClickHouse.Driver;

namespace Telemetry.ClickHouse;

// Row types for ClickHouse.Driver's typed RowBinary writer. Every column names its type, so the
// driver never asks the server for the table structure (18.16 cannot answer that request).
// IPv6 and LowCardinality(String) columns are declared as FixedString(16) and String here:
// their RowBinary encodings are identical.

internal sealed class TargetRow
{
    [ClickHouseColumn(Name = "window_start", Type = "DateTime")] public DateTime WindowStart { get; set; }
    [ClickHouseColumn(Name = "sensor", Type = "String")] public string Sensor { get; set; } = "";
    [ClickHouseColumn(Name = "dst_ip", Type = "FixedString(16)")] public byte[] DstIp { get; set; } = [];
    [ClickHouseColumn(Name = "proto", Type = "UInt8")] public byte Proto { get; set; }
    [ClickHouseColumn(Name = "dst_port", Type = "UInt16")] public ushort DstPort { get; set; }
    [ClickHouseColumn(Name = "class", Type = "String")] public string Class { get; set; } = "";
    [ClickHouseColumn(Name = "packets", Type = "UInt64")] public ulong Packets { get; set; }
    [ClickHouseColumn(Name = "ip_bytes", Type = "UInt64")] public ulong IpBytes { get; set; }
    [ClickHouseColumn(Name = "sources", Type = "UInt64")] public ulong Sources { get; set; }
    [ClickHouseColumn(Name = "first_seen", Type = "DateTime")] public DateTime FirstSeen { get; set; }
    [ClickHouseColumn(Name = "last_seen", Type = "DateTime")] public DateTime LastSeen { get; set; }
}

internal sealed class PortRow
{
    [ClickHouseColumn(Name = "window_start", Type = "DateTime")] public DateTime WindowStart { get; set; }
    [ClickHouseColumn(Name = "sensor", Type = "String")] public string Sensor { get; set; } = "";
    [ClickHouseColumn(Name = "proto", Type = "UInt8")] public byte Proto { get; set; }
    [ClickHouseColumn(Name = "dst_port", Type = "UInt16")] public ushort DstPort { get; set; }
    [ClickHouseColumn(Name = "class", Type = "String")] public string Class { get; set; } = "";
    [ClickHouseColumn(Name = "packets", Type = "UInt64")] public ulong Packets { get; set; }
    [ClickHouseColumn(Name = "ip_bytes", Type = "UInt64")] public ulong IpBytes { get; set; }
    [ClickHouseColumn(Name = "sources", Type = "UInt64")] public ulong Sources { get; set; }
    [ClickHouseColumn(Name = "targets", Type = "UInt64")] public ulong Targets { get; set; }
}

internal sealed class SourceRow
{
    [ClickHouseColumn(Name = "window_start", Type = "DateTime")] public DateTime WindowStart { get; set; }
    [ClickHouseColumn(Name = "sensor", Type = "String")] public string Sensor { get; set; } = "";
    [ClickHouseColumn(Name = "src_ip", Type = "FixedString(16)")] public byte[] SrcIp { get; set; } = [];
    [ClickHouseColumn(Name = "proto", Type = "UInt8")] public byte Proto { get; set; }
    [ClickHouseColumn(Name = "dst_port", Type = "UInt16")] public ushort DstPort { get; set; }
    [ClickHouseColumn(Name = "class", Type = "String")] public string Class { get; set; } = "";
    [ClickHouseColumn(Name = "packets", Type = "UInt64")] public ulong Packets { get; set; }
    [ClickHouseColumn(Name = "ip_bytes", Type = "UInt64")] public ulong IpBytes { get; set; }
    [ClickHouseColumn(Name = "targets", Type = "UInt64")] public ulong Targets { get; set; }
}

internal sealed class HealthRowData
{
    [ClickHouseColumn(Name = "window_start", Type = "DateTime")] public DateTime WindowStart { get; set; }
    [ClickHouseColumn(Name = "sensor", Type = "String")] public string Sensor { get; set; } = "";
    [ClickHouseColumn(Name = "packets_seen", Type = "UInt64")] public ulong PacketsSeen { get; set; }
    [ClickHouseColumn(Name = "packets_decoded", Type = "UInt64")] public ulong PacketsDecoded { get; set; }
    [ClickHouseColumn(Name = "wire_bytes", Type = "UInt64")] public ulong WireBytes { get; set; }
    [ClickHouseColumn(Name = "undecodable_unsupported_link_type", Type = "UInt64")] public ulong UnsupportedLinkType { get; set; }
    [ClickHouseColumn(Name = "undecodable_non_ip", Type = "UInt64")] public ulong NonIp { get; set; }
    [ClickHouseColumn(Name = "undecodable_truncated_link", Type = "UInt64")] public ulong TruncatedLink { get; set; }
    [ClickHouseColumn(Name = "undecodable_truncated_ip", Type = "UInt64")] public ulong TruncatedIp { get; set; }
    [ClickHouseColumn(Name = "undecodable_bad_ip_header", Type = "UInt64")] public ulong BadIpHeader { get; set; }
    [ClickHouseColumn(Name = "undecodable_truncated_transport", Type = "UInt64")] public ulong TruncatedTransport { get; set; }
    [ClickHouseColumn(Name = "capture_drops", Type = "UInt64")] public ulong CaptureDrops { get; set; }
    [ClickHouseColumn(Name = "capture_errors", Type = "UInt64")] public ulong CaptureErrors { get; set; }
}
