using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

namespace Telemetry.Testing;

/// <summary>
/// A private clickhouse-server (Debian's package) started through deploy/clickhouse/run-local.sh
/// on free loopback ports with a data folder of its own; killed and its folder deleted on
/// dispose. Used as an xunit collection fixture by the ClickHouse and Host integration tests;
/// each test works in a database of its own (<see cref="NewDatabase"/>).
/// A missing clickhouse-server is a failure, not a skip: CI installs it.
/// </summary>
public sealed class ClickHouseServer : IDisposable
{
    private static int s_databases;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(60) };
    private bool _stopped;

    /// <summary>Starts a server on free ports (the xunit fixture constructor).</summary>
    public ClickHouseServer()
        : this(null)
    {
    }

    private ClickHouseServer(int? httpPort)
    {
        if (TestProcess.FindOnPath("clickhouse-server") is null)
        {
            throw new InvalidOperationException(
                "clickhouse-server is not installed: the integration tests need Debian's clickhouse-server (apt-get install clickhouse-server)");
        }

        Exception? last = null;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            int[] ports = FreePort.Get(2);
            HttpPort = httpPort ?? ports[0];
            TcpPort = ports[1] == HttpPort ? FreePort.Get() : ports[1];
            DataDirectory = RepoPaths.NewTempDirectory("telemetry-clickhouse");
            try
            {
                Pid = Start(DataDirectory, HttpPort, TcpPort);
                Url = new Uri($"http://127.0.0.1:{HttpPort}");
                return;
            }
            catch (InvalidOperationException ex)
            {
                // Most likely a port taken between choosing and binding it: try other ports.
                last = ex;
                TryDelete(DataDirectory);
                if (httpPort is not null)
                {
                    break;
                }
            }
        }

        throw new InvalidOperationException($"cannot start clickhouse-server: {last?.Message}", last);
    }

    public Uri Url { get; } = null!;

    public int HttpPort { get; }

    public int TcpPort { get; }

    public int Pid { get; }

    public string DataDirectory { get; } = "";

    /// <summary>Starts another server whose HTTP interface listens on <paramref name="httpPort"/>.</summary>
    public static ClickHouseServer StartOnPort(int httpPort) => new(httpPort);

    /// <summary>A database name no other test uses (the database is created by whoever needs it).</summary>
    public static string NewDatabase(string hint) =>
        $"{hint}_{Interlocked.Increment(ref s_databases)}_{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>Runs a statement or query over HTTP and returns the response body; throws with the server's message on error.</summary>
    public async Task<string> QueryAsync(string sql, CancellationToken cancellationToken = default)
    {
        using var content = new StringContent(sql, Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        using HttpResponseMessage response = await _http.PostAsync(Url, content, cancellationToken);
        string body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"ClickHouse answered {(int)response.StatusCode} to {sql}: {body}");
        }

        return body;
    }

    /// <summary>Runs a query in TabSeparated format and splits it into rows and fields.</summary>
    public async Task<List<string[]>> RowsAsync(string sql, CancellationToken cancellationToken = default)
    {
        string text = await QueryAsync(sql + " FORMAT TabSeparated", cancellationToken);
        return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('\t'))];
    }

    /// <summary>A single number from a query such as <c>SELECT count() FROM …</c>.</summary>
    public async Task<long> ScalarAsync(string sql, CancellationToken cancellationToken = default)
    {
        string text = (await QueryAsync(sql + " FORMAT TabSeparated", cancellationToken)).Trim();
        return text.Length == 0 || text == "\\N" ? 0 : long.Parse(text, CultureInfo.InvariantCulture);
    }

    /// <summary>Kills the server (it holds nothing the tests still need) and deletes its folder.</summary>
    public void Dispose()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        _http.Dispose();
        try
        {
            using Process process = Process.GetProcessById(Pid);
            process.Kill();
            process.WaitForExit(15_000);
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
        catch (InvalidOperationException)
        {
        }

        TryDelete(DataDirectory);
    }

    private static int Start(string directory, int httpPort, int tcpPort)
    {
        string script = Path.Combine(RepoPaths.Root, "deploy", "clickhouse", "run-local.sh");
        ProcessResult result = TestProcess.RunAsync(
            script,
            [directory, httpPort.ToString(CultureInfo.InvariantCulture), tcpPort.ToString(CultureInfo.InvariantCulture)],
            TimeSpan.FromSeconds(90)).GetAwaiter().GetResult();
        if (result.ExitCode != 0 || !int.TryParse(result.Stdout.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
        {
            throw new InvalidOperationException($"run-local.sh {directory} {httpPort} {tcpPort} failed: {result}");
        }

        return pid;
    }

    private static void TryDelete(string directory)
    {
        for (int attempt = 0; attempt < 5; attempt++)
        {
            try
            {
                if (Directory.Exists(directory))
                {
                    Directory.Delete(directory, recursive: true);
                }

                return;
            }
            catch (IOException)
            {
                Thread.Sleep(200);
            }
            catch (UnauthorizedAccessException)
            {
                return;
            }
        }
    }
}
