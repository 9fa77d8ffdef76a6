namespace Telemetry.ClickHouse;

/// <summary>
/// The rollup schema, in the dialect the connected server speaks. Every statement works on
/// ClickHouse 18.16; on 21.8 and later the tables also use LowCardinality, the IPv6 type,
/// codecs, TTL and SimpleAggregateFunction. Column names and meanings are the same on both,
/// so the same sum() … GROUP BY queries run on either.
/// </summary>
public static class Schema
{
    public const string TargetTable = "target_port_1m";
    public const string PortTable = "port_1m";
    public const string SourceTable = "source_1m";
    public const string HealthTable = "ingest_health_1m";
    public const string MigrationsTable = "schema_migrations";

    /// <summary>The schema version this build writes; each step of <see cref="Migrations"/> raises it by one.</summary>
    public static int CurrentVersion => 1;

    /// <summary>Statements that bring a database from version <c>index</c> to <c>index + 1</c>.</summary>
    public static IReadOnlyList<IReadOnlyList<string>> Migrations(string database, ServerVersion server, int retentionDays) =>
    [
        [
            Target(database, server, retentionDays),
            Port(database, server, retentionDays),
            Source(database, server, retentionDays),
            Health(database, server, retentionDays),
        ],
    ];

    public static string CreateDatabase(string database) => $"CREATE DATABASE IF NOT EXISTS {database}";

    public static string CreateMigrations(string database) =>
        $"CREATE TABLE IF NOT EXISTS {database}.{MigrationsTable} (version UInt32, applied_at DateTime) ENGINE = TinyLog";

    private static string Text(ServerVersion v) => v.IsModern ? "LowCardinality(String)" : "String";

    private static string Ip(ServerVersion v) => v.IsModern ? "IPv6" : "FixedString(16)";

    private static string WindowColumn(ServerVersion v) =>
        v.IsModern ? "window_start DateTime('UTC') CODEC(DoubleDelta, LZ4)" : "window_start DateTime('UTC')";

    private static string Ttl(ServerVersion v, int retentionDays) =>
        v.IsModern && retentionDays > 0 ? $"\nTTL window_start + INTERVAL {retentionDays} DAY" : "";

    private static string Target(string db, ServerVersion v, int retentionDays)
    {
        if (v.IsModern)
        {
            // SimpleAggregateFunction keeps first_seen/last_seen right when rows merge.
            return $"""
                CREATE TABLE IF NOT EXISTS {db}.{TargetTable} (
                    {WindowColumn(v)},
                    sensor {Text(v)},
                    dst_ip {Ip(v)},
                    proto UInt8,
                    dst_port UInt16,
                    class {Text(v)},
                    packets SimpleAggregateFunction(sum, UInt64),
                    ip_bytes SimpleAggregateFunction(sum, UInt64),
                    sources SimpleAggregateFunction(sum, UInt64),
                    first_seen SimpleAggregateFunction(min, DateTime('UTC')),
                    last_seen SimpleAggregateFunction(max, DateTime('UTC'))
                ) ENGINE = AggregatingMergeTree
                PARTITION BY toYYYYMMDD(window_start)
                ORDER BY (dst_ip, window_start, sensor, proto, dst_port, class){Ttl(v, retentionDays)}
                """;
        }

        // 18.16 has no SimpleAggregateFunction: first_seen/last_seen join the sorting key so
        // that rows with different values never merge and min()/max() stay exact.
        return $"""
            CREATE TABLE IF NOT EXISTS {db}.{TargetTable} (
                {WindowColumn(v)},
                sensor String,
                dst_ip FixedString(16),
                proto UInt8,
                dst_port UInt16,
                class String,
                packets UInt64,
                ip_bytes UInt64,
                sources UInt64,
                first_seen DateTime('UTC'),
                last_seen DateTime('UTC')
            ) ENGINE = SummingMergeTree((packets, ip_bytes, sources))
            PARTITION BY toYYYYMMDD(window_start)
            ORDER BY (dst_ip, window_start, sensor, proto, dst_port, class, first_seen, last_seen)
            """;
    }

    private static string Port(string db, ServerVersion v, int retentionDays) => $"""
        CREATE TABLE IF NOT EXISTS {db}.{PortTable} (
            {WindowColumn(v)},
            sensor {Text(v)},
            proto UInt8,
            dst_port UInt16,
            class {Text(v)},
            packets UInt64,
            ip_bytes UInt64,
            sources UInt64,
            targets UInt64
        ) ENGINE = SummingMergeTree((packets, ip_bytes, sources, targets))
        PARTITION BY toYYYYMMDD(window_start)
        ORDER BY (window_start, sensor, proto, dst_port, class){Ttl(v, retentionDays)}
        """;

    private static string Source(string db, ServerVersion v, int retentionDays) => $"""
        CREATE TABLE IF NOT EXISTS {db}.{SourceTable} (
            {WindowColumn(v)},
            sensor {Text(v)},
            src_ip {Ip(v)},
            proto UInt8,
            dst_port UInt16,
            class {Text(v)},
            packets UInt64,
            ip_bytes UInt64,
            targets UInt64
        ) ENGINE = SummingMergeTree((packets, ip_bytes, targets))
        PARTITION BY toYYYYMMDD(window_start)
        ORDER BY (src_ip, window_start, sensor, proto, dst_port, class){Ttl(v, retentionDays)}
        """;

    /// <summary>The undecodable reasons, in <see cref="Telemetry.Core.Decode.DecodeStatus"/> order (Ok excluded).</summary>
    public static readonly string[] UndecodableColumns =
    [
        "undecodable_unsupported_link_type",
        "undecodable_non_ip",
        "undecodable_truncated_link",
        "undecodable_truncated_ip",
        "undecodable_bad_ip_header",
        "undecodable_truncated_transport",
    ];

    private static string Health(string db, ServerVersion v, int retentionDays) => $"""
        CREATE TABLE IF NOT EXISTS {db}.{HealthTable} (
            {WindowColumn(v)},
            sensor {Text(v)},
            packets_seen UInt64,
            packets_decoded UInt64,
            wire_bytes UInt64,
            {string.Join(",\n    ", UndecodableColumns.Select(c => c + " UInt64"))},
            capture_drops UInt64,
            capture_errors UInt64
        ) ENGINE = SummingMergeTree
        PARTITION BY toYYYYMMDD(window_start)
        ORDER BY (sensor, window_start){Ttl(v, retentionDays)}
        """;
}
