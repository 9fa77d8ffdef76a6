using System.Text.RegularExpressions;

namespace Telemetry.ClickHouse.Tests;

/// <summary>The DDL text for servers the tests cannot run (current releases) and for 18.16.</summary>
public partial class SchemaTests
{
    private static readonly ServerVersion Modern = ServerVersion.Parse("24.8.4.13");
    private static readonly ServerVersion Debian = ServerVersion.Parse("18.16.1");

    private static readonly string[] Tables = [Schema.TargetTable, Schema.PortTable, Schema.SourceTable, Schema.HealthTable];

    private static List<string> Statements(ServerVersion version, int retentionDays) =>
        [.. Schema.Migrations("darknet", version, retentionDays).SelectMany(step => step)];

    private static string Statement(ServerVersion version, int retentionDays, string table) =>
        Statements(version, retentionDays).Single(s => s.Contains($"darknet.{table} (", StringComparison.Ordinal));

    [Theory]
    [InlineData("18.16.1", 18, 16, false)]
    [InlineData("21.7.2.7", 21, 7, false)]
    [InlineData("21.8.15.7", 21, 8, true)]
    [InlineData("24.8.4.13\n", 24, 8, true)]
    [InlineData("25.1", 25, 1, true)]
    public void ServerVersionParse_VersionString_MajorMinorAndFeatures(string text, int major, int minor, bool modern)
    {
        ServerVersion version = ServerVersion.Parse(text);
        Assert.Equal(major, version.Major);
        Assert.Equal(minor, version.Minor);
        Assert.Equal(modern, version.IsModern);
    }

    [Theory]
    [InlineData("")]
    [InlineData("24")]
    [InlineData("v24.8")]
    [InlineData("Code: 60. DB::Exception")]
    public void ServerVersionParse_Garbage_Throws(string text) => Assert.Throws<FormatException>(() => ServerVersion.Parse(text));

    [Fact]
    public void Migrations_EveryServer_OneStepCreatingFourTables()
    {
        foreach (ServerVersion version in new[] { Modern, Debian })
        {
            IReadOnlyList<IReadOnlyList<string>> steps = Schema.Migrations("darknet", version, 30);
            Assert.Equal(Schema.CurrentVersion, steps.Count);
            foreach (string table in Tables)
            {
                Assert.Contains($"CREATE TABLE IF NOT EXISTS darknet.{table} (", Statement(version, 30, table), StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Migrations_ModernServer_UsesLowCardinalityIpv6AndSimpleAggregateFunction()
    {
        string target = Statement(Modern, 0, Schema.TargetTable);
        Assert.Contains("sensor LowCardinality(String)", target, StringComparison.Ordinal);
        Assert.Contains("class LowCardinality(String)", target, StringComparison.Ordinal);
        Assert.Contains("dst_ip IPv6", target, StringComparison.Ordinal);
        Assert.Contains("packets SimpleAggregateFunction(sum, UInt64)", target, StringComparison.Ordinal);
        Assert.Contains("ip_bytes SimpleAggregateFunction(sum, UInt64)", target, StringComparison.Ordinal);
        Assert.Contains("sources SimpleAggregateFunction(sum, UInt64)", target, StringComparison.Ordinal);
        Assert.Contains("first_seen SimpleAggregateFunction(min, DateTime('UTC'))", target, StringComparison.Ordinal);
        Assert.Contains("last_seen SimpleAggregateFunction(max, DateTime('UTC'))", target, StringComparison.Ordinal);
        Assert.Contains("ENGINE = AggregatingMergeTree", target, StringComparison.Ordinal);
        Assert.Contains("src_ip IPv6", Statement(Modern, 0, Schema.SourceTable), StringComparison.Ordinal);
        foreach (string table in Tables)
        {
            string ddl = Statement(Modern, 0, table);
            Assert.Contains("sensor LowCardinality(String)", ddl, StringComparison.Ordinal);
            Assert.Contains("window_start DateTime('UTC') CODEC(DoubleDelta, LZ4)", ddl, StringComparison.Ordinal);
            Assert.Contains("PARTITION BY toYYYYMMDD(window_start)", ddl, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Migrations_ModernServerWithRetention_EveryRollupHasTtl()
    {
        foreach (string table in Tables)
        {
            Assert.Contains("TTL window_start + INTERVAL 30 DAY", Statement(Modern, 30, table), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Migrations_ModernServerWithoutRetention_HasNoTtl()
    {
        foreach (string statement in Statements(Modern, 0))
        {
            Assert.DoesNotContain("TTL", statement, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Migrations_ClickHouse1816_UsesNoNewerFeatures()
    {
        foreach (string statement in Statements(Debian, 30).Append(Schema.CreateMigrations("darknet")).Append(Schema.CreateDatabase("darknet")))
        {
            foreach (string feature in new[] { "LowCardinality", "IPv6", "TTL", "SimpleAggregateFunction", "CODEC", "AggregatingMergeTree", "Nullable" })
            {
                Assert.DoesNotContain(feature, statement, StringComparison.Ordinal);
            }
        }

        Assert.Contains("dst_ip FixedString(16)", Statement(Debian, 0, Schema.TargetTable), StringComparison.Ordinal);
        Assert.Contains("src_ip FixedString(16)", Statement(Debian, 0, Schema.SourceTable), StringComparison.Ordinal);
        Assert.Contains("ENGINE = SummingMergeTree((packets, ip_bytes, sources))", Statement(Debian, 0, Schema.TargetTable), StringComparison.Ordinal);
    }

    [Fact]
    public void Migrations_ModernAndOld_SameColumnsInSameOrder()
    {
        foreach (string table in Tables)
        {
            Assert.Equal(ColumnNames(Statement(Debian, 0, table)), ColumnNames(Statement(Modern, 30, table)));
        }

        Assert.Equal(
            ["window_start", "sensor", "dst_ip", "proto", "dst_port", "class", "packets", "ip_bytes", "sources", "first_seen", "last_seen"],
            ColumnNames(Statement(Modern, 0, Schema.TargetTable)));
    }

    private static List<string> ColumnNames(string ddl)
    {
        string body = ddl[(ddl.IndexOf('(', StringComparison.Ordinal) + 1)..ddl.IndexOf(") ENGINE", StringComparison.Ordinal)];
        return [.. ColumnLine().Matches(body).Select(m => m.Groups[1].Value)];
    }

    [GeneratedRegex(@"^\s*([a-z_]+) [A-Z]", RegexOptions.Multiline)]
    private static partial Regex ColumnLine();
}
