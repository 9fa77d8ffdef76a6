using System.Collections.Concurrent;
using Telemetry.Testing;

namespace Telemetry.Host.Tests;

[CollectionDefinition(Name)]
public sealed class HostTestGroup : ICollectionFixture<HostFixture>
{
    public const string Name = "Host";
}

/// <summary>
/// What the end-to-end tests share: a private ClickHouse server, the built host (the
/// <c>telemetry.dll</c> this project's build places beside the tests, run as a child process
/// exactly as <c>./telemetry</c> runs it), the test captures and their tshark oracle.
/// tshark and clickhouse-server missing is a failure, not a skip.
/// </summary>
public sealed class HostFixture : IDisposable
{
    private readonly Lazy<Task<CaptureSet>> _captures;
    private readonly ConcurrentDictionary<string, Lazy<Task<object>>> _shared = new(StringComparer.Ordinal);

    public HostFixture()
    {
        foreach (string tool in new[] { "tshark", "promtool" })
        {
            if (TestProcess.FindOnPath(tool) is null)
            {
                throw new InvalidOperationException($"{tool} is not installed; the end-to-end tests need it (Debian packages tshark, prometheus)");
            }
        }

        TelemetryDll = Path.Combine(AppContext.BaseDirectory, "telemetry.dll");
        if (!File.Exists(TelemetryDll))
        {
            throw new InvalidOperationException($"the host was not built beside the tests: {TelemetryDll} is missing");
        }

        Directory = RepoPaths.NewTempDirectory("telemetry-host-tests");
        ClickHouse = new ClickHouseServer();
        _captures = new Lazy<Task<CaptureSet>>(() => CaptureSet.CreateAsync(Directory));
    }

    public ClickHouseServer ClickHouse { get; }

    public string TelemetryDll { get; }

    /// <summary>A scratch folder deleted with the fixture.</summary>
    public string Directory { get; }

    internal Task<CaptureSet> Captures => _captures.Value;

    /// <summary>A scenario several tests assert on, run once (the first test to ask runs it); disposed with the fixture.</summary>
    internal async Task<T> SharedAsync<T>(string key, Func<Task<T>> create)
        where T : class =>
        (T)await _shared.GetOrAdd(key, _ => new Lazy<Task<object>>(async () => await create())).Value;

    /// <summary>Runs <c>telemetry ARGS…</c> to completion.</summary>
    public Task<ProcessResult> RunTelemetryAsync(
        IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null, byte[]? stdin = null) =>
        TestProcess.RunAsync("dotnet", [TelemetryDll, .. arguments], timeout ?? TimeSpan.FromMinutes(2), Quiet(environment), stdin);

    /// <summary>Starts <c>telemetry ARGS…</c> in the background.</summary>
    public BackgroundProcess StartTelemetry(IEnumerable<string> arguments) =>
        new("dotnet", [TelemetryDll, .. arguments], Quiet(null));

    public void Dispose()
    {
        foreach (Lazy<Task<object>> shared in _shared.Values)
        {
            if (shared.IsValueCreated && shared.Value.IsCompletedSuccessfully && shared.Value.Result is IDisposable disposable)
            {
                disposable.Dispose();
            }
        }

        ClickHouse.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static Dictionary<string, string> Quiet(IReadOnlyDictionary<string, string>? environment)
    {
        var merged = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        };
        foreach ((string key, string value) in environment ?? new Dictionary<string, string>())
        {
            merged[key] = value;
        }

        return merged;
    }
}
