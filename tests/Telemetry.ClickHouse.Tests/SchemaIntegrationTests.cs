using Telemetry.Testing;

namespace Telemetry.ClickHouse.Tests;

[Collection(ClickHouseServerDefinition.Name)]
public class SchemaIntegrationTests(ClickHouseServer server)
{
    [Fact]
    public async Task EnsureSchema_RunTwice_IsIdempotentAndRecordsVersionOnce()
    {
        string db = ClickHouseServer.NewDatabase("schema");
        using (ClickHouseStore store = Batches.Store(server.Url, db))
        {
            Assert.Equal(Schema.CurrentVersion, await store.EnsureSchemaAsync());
            Assert.Equal(Schema.CurrentVersion, await store.EnsureSchemaAsync());
        }

        // A new process (a new store) finds the schema current and changes nothing.
        using (ClickHouseStore again = Batches.Store(server.Url, db))
        {
            Assert.Equal(Schema.CurrentVersion, await again.EnsureSchemaAsync());
        }

        List<string[]> versions = await server.RowsAsync($"SELECT version FROM {db}.{Schema.MigrationsTable} ORDER BY version");
        Assert.Equal([Schema.CurrentVersion.ToString(System.Globalization.CultureInfo.InvariantCulture)], versions.Select(r => r[0]));
        List<string[]> tables = await server.RowsAsync($"SELECT name FROM system.tables WHERE database = '{db}' ORDER BY name");
        Assert.Equal(
            [Schema.HealthTable, Schema.PortTable, Schema.MigrationsTable, Schema.SourceTable, Schema.TargetTable],
            tables.Select(r => r[0]));
    }

    [Fact]
    public async Task GetVersion_DebianServer_Is1816AndNotModern()
    {
        using ClickHouseStore store = Batches.Store(server.Url, "default");
        ServerVersion version = await store.GetVersionAsync();
        Assert.Equal(new ServerVersion(18, 16), version);
        Assert.False(version.IsModern);
        Assert.True(await store.PingAsync());
    }

    [Fact]
    public async Task EnsureSchema_On1816_TablesColumnsEnginesAndKeysAsDocumented()
    {
        string db = ClickHouseServer.NewDatabase("columns");
        using ClickHouseStore store = Batches.Store(server.Url, db);
        await store.EnsureSchemaAsync();

        await AssertColumns(db, Schema.TargetTable,
            "window_start DateTime('UTC')", "sensor String", "dst_ip FixedString(16)", "proto UInt8", "dst_port UInt16", "class String",
            "packets UInt64", "ip_bytes UInt64", "sources UInt64", "first_seen DateTime('UTC')", "last_seen DateTime('UTC')");
        await AssertColumns(db, Schema.PortTable,
            "window_start DateTime('UTC')", "sensor String", "proto UInt8", "dst_port UInt16", "class String",
            "packets UInt64", "ip_bytes UInt64", "sources UInt64", "targets UInt64");
        await AssertColumns(db, Schema.SourceTable,
            "window_start DateTime('UTC')", "sensor String", "src_ip FixedString(16)", "proto UInt8", "dst_port UInt16", "class String",
            "packets UInt64", "ip_bytes UInt64", "targets UInt64");
        await AssertColumns(db, Schema.HealthTable,
            "window_start DateTime('UTC')", "sensor String", "packets_seen UInt64", "packets_decoded UInt64", "wire_bytes UInt64",
            "undecodable_unsupported_link_type UInt64", "undecodable_non_ip UInt64", "undecodable_truncated_link UInt64",
            "undecodable_truncated_ip UInt64", "undecodable_bad_ip_header UInt64", "undecodable_truncated_transport UInt64",
            "capture_drops UInt64", "capture_errors UInt64");

        List<string[]> tables = await server.RowsAsync(
            $"SELECT name, engine, partition_key, sorting_key FROM system.tables WHERE database = '{db}' AND name != '{Schema.MigrationsTable}' ORDER BY name");
        Assert.Equal(
            [
                $"{Schema.HealthTable}|SummingMergeTree|toYYYYMMDD(window_start)|sensor, window_start",
                $"{Schema.PortTable}|SummingMergeTree|toYYYYMMDD(window_start)|window_start, sensor, proto, dst_port, class",
                $"{Schema.SourceTable}|SummingMergeTree|toYYYYMMDD(window_start)|src_ip, window_start, sensor, proto, dst_port, class",
                $"{Schema.TargetTable}|SummingMergeTree|toYYYYMMDD(window_start)|dst_ip, window_start, sensor, proto, dst_port, class, first_seen, last_seen",
            ],
            tables.Select(r => string.Join('|', r)));
    }

    private async Task AssertColumns(string db, string table, params string[] expected)
    {
        List<string[]> columns = await server.RowsAsync($"SELECT name, type FROM system.columns WHERE database = '{db}' AND table = '{table}'");
        Assert.Equal(expected, columns.Select(c => $"{c[0]} {c[1].Replace("\\'", "'", StringComparison.Ordinal)}"));
    }
}
