using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Telemetry.Host.Cli;

/// <summary>
/// <c>stream --sensors N --port P</c>: a load generator for the TCP listener. Each of N sensors
/// gets its own capture (its own seed, <c>--packets</c> split evenly), generated in memory
/// first so that generating never limits the send rate; then all N connect and send at once,
/// as fast as the receiver reads (TCP backpressure) or paced to <c>--send-rate</c> packets/s
/// in total. Prints packets sent per second, overall and per sensor.
/// </summary>
internal static class StreamCommand
{
    private const int ChunkBytes = 1 << 20;

    public static async Task<int> RunAsync(string[] args)
    {
        CommandLine line = CommandLine.Parse(args, [.. GenerateCommand.GeneratorFlags, "sensors", "host", "port", "send-rate"]);
        int sensors = (int)Math.Clamp(line.GetInt64("sensors", 1), 1, 1024);
        int port = (int)line.GetInt64("port", 5140);
        string host = line.Get("host") ?? "127.0.0.1";
        double sendRate = line.GetInt64("send-rate", 0);
        GeneratorSettings settings = GeneratorSettings.Parse(line, 1_000_000);
        long perSensor = Math.Max(1, settings.Packets / sensors);

        var generating = Stopwatch.StartNew();
        byte[][] captures = new byte[sensors][];
        Parallel.For(0, sensors, i =>
        {
            using var memory = new MemoryStream(checked((int)Math.Min(int.MaxValue, perSensor * 96)));
            settings.WriteTo(memory, settings.Seed + i, perSensor, settings.StartNs);
            captures[i] = memory.ToArray();
        });
        long totalBytes = captures.Sum(c => (long)c.Length);
        await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"stream: generated {sensors} x {perSensor} packets ({totalBytes / 1e6:F0} MB) in {generating.Elapsed.TotalSeconds:F2} s; connecting to {host}:{port}"));

        IPAddress[] addresses = await Dns.GetHostAddressesAsync(host);
        var sockets = new Socket[sensors];
        for (int i = 0; i < sensors; i++)
        {
            sockets[i] = new Socket(SocketType.Stream, ProtocolType.Tcp) { SendBufferSize = 4 << 20 };
            await sockets[i].ConnectAsync(addresses, port);
        }

        double perSensorBytesPerSecond = sendRate > 0 ? sendRate / sensors * ((double)totalBytes / sensors / perSensor) : 0;
        var sending = Stopwatch.StartNew();
        double[] seconds = await Task.WhenAll(Enumerable.Range(0, sensors).Select(i => Task.Run(() => SendAsync(sockets[i], captures[i], perSensorBytesPerSecond, sending))));
        double elapsed = sending.Elapsed.TotalSeconds;
        foreach (Socket socket in sockets)
        {
            socket.Dispose();
        }

        long total = perSensor * sensors;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"stream: {sensors} sensor(s) sent {total} packets ({totalBytes} bytes) in {elapsed:F2} s: {total / elapsed:F0} packets/s " +
            $"({totalBytes * 8 / elapsed / 1e9:F2} Gbit/s); slowest sensor {seconds.Max():F2} s, fastest {seconds.Min():F2} s"));
        return 0;
    }

    private static async Task<double> SendAsync(Socket socket, byte[] capture, double bytesPerSecond, Stopwatch clock)
    {
        for (int offset = 0; offset < capture.Length;)
        {
            if (bytesPerSecond > 0)
            {
                // Pace: never be ahead of the byte budget for the elapsed time.
                double due = offset / bytesPerSecond;
                double ahead = due - clock.Elapsed.TotalSeconds;
                if (ahead > 0.001)
                {
                    await Task.Delay(TimeSpan.FromSeconds(ahead));
                }
            }

            int length = Math.Min(bytesPerSecond > 0 ? 64 << 10 : ChunkBytes, capture.Length - offset);
            offset += await socket.SendAsync(capture.AsMemory(offset, length), SocketFlags.None);
        }

        socket.Shutdown(SocketShutdown.Send);
        return clock.Elapsed.TotalSeconds;
    }
}
