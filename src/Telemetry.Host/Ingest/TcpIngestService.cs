using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Ingest;

namespace Telemetry.Host.Ingest;

/// <summary>
/// Accepts sensor connections, each streaming a pcap or pcapng capture
/// (<c>tcpdump -i dark0 -U -w - | nc aggregator 5140</c>), and reads them concurrently.
/// </summary>
internal sealed partial class TcpIngestService(
    AggregationEngine engine,
    CaptureIngestor ingestor,
    ITelemetryEvents events,
    IOptions<IngestOptions> options,
    ILogger<TcpIngestService> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<Task, bool> _connections = new();
    private readonly List<Socket> _listeners = [];
    private int _open;

    /// <summary>The ports actually bound, in listener order (port 0 in configuration binds a free port).</summary>
    public List<int> BoundPorts { get; } = [];

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (ListenerOptions listener in options.Value.Listeners)
        {
            IPAddress address = IPAddress.Parse(listener.Address);
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(address, listener.Port));
            socket.Listen(512);
            _listeners.Add(socket);
            int port = ((IPEndPoint)socket.LocalEndPoint!).Port;
            BoundPorts.Add(port);
            LogListening(listener.Address, port, listener.Sensor, listener.Naming);
        }

        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var accepts = new List<Task>();
        for (int i = 0; i < _listeners.Count; i++)
        {
            accepts.Add(AcceptLoopAsync(_listeners[i], options.Value.Listeners[i], stoppingToken));
        }

        await Task.WhenAll(accepts);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // Stop accepting, then let every connection hand over what it has read.
        foreach (Socket socket in _listeners)
        {
            socket.Dispose();
        }

        await base.StopAsync(cancellationToken);
        await Task.WhenAll(_connections.Keys).WaitAsync(cancellationToken);
    }

    private async Task AcceptLoopAsync(Socket listener, ListenerOptions config, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            if (Interlocked.Increment(ref _open) > options.Value.MaxConnections)
            {
                Interlocked.Decrement(ref _open);
                LogRejected(client.RemoteEndPoint, options.Value.MaxConnections);
                events.CaptureError(config.Sensor, "connection_limit");
                client.Dispose();
                continue;
            }

            Task connection = HandleAsync(client, config, stoppingToken);
            _connections[connection] = true;
            _ = connection.ContinueWith(t => _connections.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task HandleAsync(Socket client, ListenerOptions config, CancellationToken stoppingToken)
    {
        await Task.Yield();
        var remote = (IPEndPoint)client.RemoteEndPoint!;
        string sensorName = config.Naming switch
        {
            SensorNaming.RemoteAddress => $"{config.Sensor}-{remote.Address}",
            SensorNaming.RemoteEndpoint => $"{config.Sensor}-{remote.Address}:{remote.Port}",
            _ => config.Sensor,
        };
        string origin = $"tcp {remote}";
        SensorState sensor;
        try
        {
            sensor = engine.Sensors.GetOrAdd(sensorName);
        }
        catch (InvalidOperationException ex)
        {
            LogSensorRefused(origin, ex.Message);
            client.Dispose();
            Interlocked.Decrement(ref _open);
            return;
        }

        Interlocked.Increment(ref sensor.OpenConnections);
        AggregationEngine.SourceStarted(sensor);
        LogConnected(origin, sensorName);
        try
        {
            client.ReceiveBufferSize = 4 * 1024 * 1024;
            await using var stream = new NetworkStream(client, ownsSocket: true);
            IngestResult result = await ingestor.IngestAsync(stream, sensor, origin, stoppingToken);
            LogDisconnected(origin, sensorName, result.Packets, result.Decoded);
        }
        catch (OperationCanceledException)
        {
            LogDisconnected(origin, sensorName, -1, -1);
        }
        finally
        {
            Interlocked.Decrement(ref sensor.OpenConnections);
            Interlocked.Decrement(ref _open);
            await engine.SourceEndedAsync(sensor, CancellationToken.None);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Listening for sensors on {Address}:{Port} (sensor {Sensor}, naming {Naming})")]
    private partial void LogListening(string address, int port, string sensor, SensorNaming naming);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sensor {Sensor} connected from {Origin}")]
    private partial void LogConnected(string origin, string sensor);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sensor {Sensor}, {Origin} closed after {Packets} packets ({Decoded} decoded)")]
    private partial void LogDisconnected(string origin, string sensor, long packets, long decoded);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused connection from {Remote}: {Limit} connections already open")]
    private partial void LogRejected(EndPoint? remote, int limit);

    [LoggerMessage(Level = LogLevel.Error, Message = "Refused {Origin}: {Reason}")]
    private partial void LogSensorRefused(string origin, string reason);
}
