namespace Telemetry.Core.Capture;

public enum CaptureFormat
{
    Unknown,
    Pcap,
    PcapNg,
}
