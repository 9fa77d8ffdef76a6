using System.Globalization;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO;
using Microsoft.Extensions.Logging;

namespace Telemetry.ClickHouse;

/// <summary>
/// The ClickHouse.Driver client, set up to work with 18.16 as well as current servers: no JSON
/// mode settings (18.16 rejects them), uncompressed or gzip request bodies (no zstd), and reads
/// through an explicit FORMAT TabSeparated (18.16 has no RowBinaryWithNamesAndTypes).
/// </summary>
public sealed partial class ClickHouseStore : IDisposable
{
    private readonly ILogger _logger;
    private ServerVersion? _version;

    public ClickHouseStore(ClickHouseOptions options, ILogger<ClickHouseStore> logger)
    {
        Options = options;
        _logger = logger;
        Client = new ClickHouseClient(new ClickHouseClientSettings
        {
            Host = options.Url.Host,
            Port = (ushort)options.Url.Port,
            Protocol = options.Url.Scheme,
            Path = options.Url.AbsolutePath.Trim('/') is { Length: > 0 } path ? path : null,
            Username = options.Username,
            Password = options.Password,
            JsonReadMode = JsonReadMode.None,
            JsonWriteMode = JsonWriteMode.None,
            Timeout = options.CommandTimeout,
        });
    }

    public ClickHouseOptions Options { get; }

    internal ClickHouseClient Client { get; }

    public string Database => Options.Database;

    /// <summary>Runs a query and returns its TabSeparated output.</summary>
    public async Task<string> QueryTextAsync(string sql, CancellationToken cancellationToken = default)
    {
        using var result = await Client.ExecuteRawResultAsync($"{sql} FORMAT TabSeparated", null, cancellationToken);
        return await result.ReadAsStringAsync();
    }

    public Task ExecuteAsync(string sql, CancellationToken cancellationToken = default) =>
        Client.ExecuteNonQueryAsync(sql, null, null, cancellationToken);

    public async Task<ServerVersion> GetVersionAsync(CancellationToken cancellationToken = default)
    {
        _version ??= ServerVersion.Parse(await QueryTextAsync("SELECT version()", cancellationToken));
        return _version.Value;
    }

    public async Task<bool> PingAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await Client.PingAsync(null, cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or ClickHouseServerException)
        {
            return false;
        }
    }

    /// <summary>Creates the database and tables, or brings an older schema up to date. Idempotent.</summary>
    public async Task<int> EnsureSchemaAsync(CancellationToken cancellationToken = default)
    {
        ServerVersion version = await GetVersionAsync(cancellationToken);
        string db = Options.Database;
        await ExecuteAsync(Schema.CreateDatabase(db), cancellationToken);
        await ExecuteAsync(Schema.CreateMigrations(db), cancellationToken);
        string applied = (await QueryTextAsync($"SELECT max(version) FROM {db}.{Schema.MigrationsTable}", cancellationToken)).Trim();
        int current = int.Parse(applied.Length == 0 ? "0" : applied, CultureInfo.InvariantCulture);
        IReadOnlyList<IReadOnlyList<string>> migrations = Schema.Migrations(db, version, Options.RetentionDays);
        for (int step = current; step < migrations.Count; step++)
        {
            foreach (string statement in migrations[step])
            {
                await ExecuteAsync(statement, cancellationToken);
            }

            await ExecuteAsync($"INSERT INTO {db}.{Schema.MigrationsTable} VALUES ({step + 1}, now())", cancellationToken);
            LogMigrated(db, step + 1, version);
        }

        return migrations.Count;
    }

    public void Dispose() => Client.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "ClickHouse schema of {Database} is at version {Version} (server {Server})")]
    private partial void LogMigrated(string database, int version, ServerVersion server);
}
