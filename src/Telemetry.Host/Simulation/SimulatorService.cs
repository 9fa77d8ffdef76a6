using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Telemetry.Host.Ingest;

namespace Telemetry.Host.Simulation;

/// <summary>
/// A built-in sensor for trying the service out: connects to the first TCP listener over
/// loopback and streams synthetic darknet traffic as a live pcap at a steady rate.
/// </summary>
internal sealed partial class SimulatorService(
    TcpIngestService listeners,
    IOptions<SimulatorOptions> options,
    ILogger<SimulatorService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled || listeners.BoundPorts.Count == 0)
        {
            return;
        }

        int port = listeners.BoundPorts[0];
        var generator = new DarknetTrafficGenerator(0xC6120000, 20, 5000, seed: 1);
        byte[] frame = new byte[DarknetTrafficGenerator.MaxFrameBytes];
        int rate = options.Value.PacketsPerSecond;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(System.Net.IPAddress.Loopback, port, stoppingToken);
                LogStreaming(port, rate);
                NetworkStream stream = client.GetStream();
                var writer = new PcapStreamWriter(stream);
                using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
                double owed = 0;
                while (await timer.WaitForNextTickAsync(stoppingToken))
                {
                    owed += rate / 10.0;
                    long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
                    for (; owed >= 1; owed--)
                    {
                        int length = generator.Next(frame);
                        await writer.WriteAsync(now, frame.AsMemory(0, length), stoppingToken);
                    }

                    await writer.FlushAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                LogRetry(ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Simulated sensor streaming {Rate} packets/s to 127.0.0.1:{Port}")]
    private partial void LogStreaming(int port, int rate);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Simulated sensor lost its connection ({Reason}); reconnecting")]
    private partial void LogRetry(string reason);
}
