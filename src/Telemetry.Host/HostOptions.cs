using System.ComponentModel.DataAnnotations;

namespace Telemetry.Host;

/// <summary>How a TCP connection is named as a sensor.</summary>
public enum SensorNaming
{
    /// <summary>Every connection to the listener is the listener's sensor.</summary>
    Listener,

    /// <summary>The sensor is "{Sensor}-{remote address}".</summary>
    RemoteAddress,

    /// <summary>The sensor is "{Sensor}-{remote address}:{port}": each connection its own sensor.</summary>
    RemoteEndpoint,
}

public sealed class ListenerOptions
{
    [Required]
    public string Address { get; set; } = "0.0.0.0";

    [Range(0, 65535)]
    public int Port { get; set; } = 5140;

    [Required]
    [RegularExpression("^[A-Za-z0-9_.:-]{1,64}$")]
    public string Sensor { get; set; } = "sensor";

    public SensorNaming Naming { get; set; } = SensorNaming.Listener;
}

public sealed class WatchDirectoryOptions
{
    [Required]
    public string Path { get; set; } = "";

    [Required]
    public string Sensor { get; set; } = "watch";

    /// <summary>A file counts as closed once its size and time stay unchanged this long, or a newer file appears.</summary>
    public TimeSpan SettleTime { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);
}

public sealed class StdinOptions
{
    public bool Enabled { get; set; }

    public string Sensor { get; set; } = "stdin";
}

public sealed class IngestOptions
{
    public const string Section = "Ingest";

    [Range(1, 100_000)]
    public int MaxConnections { get; set; } = 1024;

    /// <summary>Longest packet record accepted; longer ones close the stream as malformed.</summary>
    [Range(64, 16 * 1024 * 1024)]
    public int MaxRecordBytes { get; set; } = 256 * 1024;

    public List<ListenerOptions> Listeners { get; set; } = [];

    public List<WatchDirectoryOptions> WatchDirectories { get; set; } = [];

    public StdinOptions Stdin { get; set; } = new();
}

public sealed class SimulatorOptions
{
    public const string Section = "Simulator";

    public bool Enabled { get; set; }

    [Range(1, 10_000_000)]
    public int PacketsPerSecond { get; set; } = 2000;

    public string Sensor { get; set; } = "simulated";
}
