using System.ComponentModel.DataAnnotations;

namespace Telemetry.ClickHouse;

public sealed class ClickHouseOptions
{
    public const string Section = "ClickHouse";

    /// <summary>The server's HTTP interface.</summary>
    [Required]
    public Uri Url { get; set; } = new("http://127.0.0.1:8123");

    [Required]
    [RegularExpression("^[A-Za-z_][A-Za-z0-9_]*$")]
    public string Database { get; set; } = "darknet";

    public string Username { get; set; } = "default";

    public string Password { get; set; } = "";

    /// <summary>
    /// Most rows in one INSERT; larger flushes are split. Each insert is one part for the server
    /// to write and later merge, so fewer, larger inserts cost it less: on 18.16, a flush of
    /// 5.66 M rows sent in inserts of a million took about half the server CPU of inserts of
    /// 100,000, provided the server keeps the memory of its big blocks (deploy/clickhouse/jemalloc.conf;
    /// with jemalloc's defaults the page faults ate the saving). The body is encoded while it is
    /// sent, so the size costs the service 4 bytes per row.
    /// </summary>
    [Range(1000, 1_000_000)]
    public int MaxRowsPerInsert { get; set; } = 1_000_000;

    /// <summary>
    /// INSERTs of one flush in flight at once; the next chunk's rows are taken while they run. The
    /// server handles each INSERT on one thread, so two keep two cores busy.
    /// </summary>
    [Range(1, 16)]
    public int ConcurrentInserts { get; set; } = 2;

    /// <summary>Days of rollups kept (TTL), on servers that support TTL; 0 keeps everything.</summary>
    [Range(0, 36500)]
    public int RetentionDays { get; set; }

    /// <summary>First wait after a failed insert; doubles up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Create and upgrade the schema when the service starts.</summary>
    public bool CreateSchema { get; set; } = true;

    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
