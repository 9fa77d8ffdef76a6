using Telemetry.ClickHouse;

namespace Telemetry.Host.Cli;

internal static class SchemaCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        CommandLine line = CommandLine.Parse(args);
        using IHost host = CliHost.Build(line.ConfigurationArgs);
        ClickHouseStore store = host.Services.GetRequiredService<ClickHouseStore>();
        int version = await store.EnsureSchemaAsync();
        ServerVersion server = await store.GetVersionAsync();
        Console.WriteLine($"schema of {store.Database} is at version {version} on ClickHouse {server} ({(server.IsModern ? "current-server features" : "18.16-compatible tables")})");
        return 0;
    }
}

internal static class CliHost
{
    /// <summary>A host for the one-shot verbs: configuration, logging to stderr, and the services; no hosted services run.</summary>
    public static IHost Build(IEnumerable<string> configurationArgs)
    {
        HostApplicationBuilder builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = configurationArgs.ToArray(),
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Services.AddTelemetry(builder.Configuration);
        return builder.Build();
    }
}
