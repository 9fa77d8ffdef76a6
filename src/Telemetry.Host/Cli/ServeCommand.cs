using Prometheus;
using Telemetry.ClickHouse;
using Telemetry.Core.Aggregation;
using Telemetry.Host.Ingest;
using Telemetry.Host.Simulation;

namespace Telemetry.Host.Cli;

internal static class ServeCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        CommandLine line = CommandLine.Parse(args);
        WebApplication app = Build(line.ConfigurationArgs.ToArray());
        await app.RunAsync();
        return 0;
    }

    public static WebApplication Build(string[] configurationArgs)
    {
        // prometheus-net would also export the runtime's EventCounters and Meters (System.Runtime,
        // Kestrel) under names that break the exposition conventions (gauges ending in _total or
        // _count, which promtool rejects), and its EventCounter adapter forces periodic GCs.
        // Process metrics and prometheus-net's own stay. Must run before the first scrape.
        Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions { SuppressEventCounters = true, SuppressMeters = true });

        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = configurationArgs,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.WebHost.UseUrls(builder.Configuration["Http:Urls"] ?? "http://0.0.0.0:9464");

        // Sources stop first, then the engine drains; the timeout leaves room for a final flush.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(90));
        builder.Services.AddTelemetry(builder.Configuration);

        // Registration order is start order; stop runs in reverse, so the engine stops last.
        builder.Services.AddHostedService<EngineService>();
        builder.Services.AddSingleton<TcpIngestService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TcpIngestService>());
        builder.Services.AddHostedService<DirectoryWatchService>();
        builder.Services.AddHostedService<StdinService>();
        builder.Services.AddHostedService<SimulatorService>();

        WebApplication app = builder.Build();
        app.MapMetrics("/metrics");
        app.MapGet("/health/live", () => Results.Text("live\n"));
        app.MapGet("/health/ready", async (ClickHouseStore store, AggregationEngine engine, CancellationToken ct) =>
        {
            bool reachable = await store.PingAsync(ct);
            bool keepingUp = engine.PendingWindows < 1000;
            return reachable && keepingUp
                ? Results.Text("ready\n")
                : Results.Text($"not ready: clickhouse {(reachable ? "reachable" : "unreachable")}, pending windows {engine.PendingWindows}\n", statusCode: 503);
        });
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var ports = app.Services.GetRequiredService<TcpIngestService>().BoundPorts;
            var clickHouse = app.Services.GetRequiredService<ClickHouseOptions>();
            Console.Error.WriteLine($"""
                telemetry is running.
                  sensors:  stream a capture to TCP port(s) {string.Join(", ", ports)}, e.g. tcpdump -i dark0 -U -w - | nc HOST {ports.FirstOrDefault()}
                  metrics:  {string.Join(", ", app.Urls.Select(u => u.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal) + "/metrics"))}
                  rollups:  curl '{clickHouse.Url}' --data-binary 'SELECT dst_port, class, sum(packets) AS p FROM {clickHouse.Database}.port_1m WHERE window_start > now() - 600 GROUP BY dst_port, class ORDER BY p DESC LIMIT 10'
                """);
        });
        return app;
    }
}
