using Telemetry.Host.Cli;

namespace Telemetry.Host;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        string verb = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "serve";
        string[] rest = args.Length > 0 && !args[0].StartsWith('-') ? args[1..] : args;
        try
        {
            return verb switch
            {
                "serve" => await ServeCommand.RunAsync(rest),
                "replay" => await ReplayCommand.RunAsync(rest),
                "schema" => await SchemaCommand.RunAsync(rest),
                "generate" => GenerateCommand.Run(rest),
                "stream" => await StreamCommand.RunAsync(rest),
                "help" or "--help" or "-h" => Usage(0),
                _ => Usage(2),
            };
        }
        catch (Exception ex) when (ex is Microsoft.Extensions.Options.OptionsValidationException or FormatException or ArgumentException
            or HttpRequestException or global::ClickHouse.Driver.ClickHouseServerException or System.Net.Sockets.SocketException or IOException or InvalidOperationException)
        {
            // A startup failure is one clear line and a non-zero exit, never a half-running service.
            await Console.Error.WriteLineAsync($"telemetry {verb}: {Flatten(ex)}");
            return 1;
        }
    }

    private static string Flatten(Exception ex)
    {
        string message = ex.Message;
        for (Exception? inner = ex.InnerException; inner is not null; inner = inner.InnerException)
        {
            message += $" ({inner.Message})";
        }

        return message.ReplaceLineEndings(" ");
    }

    private static int Usage(int code)
    {
        TextWriter output = code == 0 ? Console.Out : Console.Error;
        output.WriteLine("""
            usage: telemetry <verb> [options] [--Section:Key=value ...]
              serve                      run the service: TCP sensors, watched directories, stdin, /metrics
              replay --sensor NAME PATH… ingest capture files or directories ('-' is stdin), flush, print a summary
              schema                     create or upgrade the ClickHouse schema and print the server version
              generate --out FILE [--packets N] [--rate PPS] [--darknet A.B.C.D/LEN] [--sources N] [--start ISO8601] [--seed N]
                       [--mix realistic|syn] [--format pcap|pcapng] [--gzip true|false]
                                         write a synthetic darknet capture (Ethernet; gzip by default when FILE ends in .gz)
              stream --sensors N --port P [--host H] [--packets TOTAL] [--send-rate PPS] [generate's options]
                                         stream generated captures to a TCP listener as N concurrent sensors, print packets/s
            Configuration: appsettings.json, environment (ClickHouse__Url, ClickHouse__Database, …), --Section:Key=value.
            """);
        return code;
    }
}
