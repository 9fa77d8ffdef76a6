namespace Telemetry.Core.Decode;

/// <summary>Marks of known scanning tools that a single probe's headers carry.</summary>
[Flags]
public enum ScannerTraits : byte
{
    None = 0,

    /// <summary>Mirai and its descendants: a TCP SYN whose sequence number is the destination IPv4 address.</summary>
    Mirai = 1,

    /// <summary>ZMap before 4.1: a probe (TCP SYN, UDP or ICMP request) with IP ID 54321.</summary>
    ZMap = 2,

    /// <summary>Masscan: a TCP SYN whose IP ID is (destination IPv4 ^ destination port ^ sequence) &amp; 0xFFFF.</summary>
    Masscan = 4,

    /// <summary>Nmap -sS: a TCP SYN with window 1024 and a single MSS option.</summary>
    Nmap = 8,
}

/// <summary>
/// Reads <see cref="ScannerTraits"/> off one decoded packet: no state, no allocation, a few
/// comparisons, so it can run on every packet of the hot path. Only probes are marked, never
/// backscatter: Mirai, Masscan and Nmap need a TCP SYN, ZMap a TCP SYN, UDP or ICMP request.
/// The Mirai, ZMap and Masscan rules are stated on IPv4 fields and apply to IPv4 only; Nmap's
/// (window and options) to IPv6 as well. Each rule can match a packet of another tool by
/// chance: a random 16-bit IP ID meets ZMap's or Masscan's rule once in 65,536 probes, a random
/// sequence number Mirai's once in 2^32. Unicornscan's mark (a key constant across one
/// source's probes) needs state per source and is not read here.
/// </summary>
public static class ScannerFingerprint
{
    /// <summary>The IP ID ZMap wrote into every probe before version 4.1.</summary>
    public const ushort ZMapIpId = 54321;

    /// <summary>The window of Nmap's SYN scan probes.</summary>
    public const ushort NmapWindow = 1024;

    private const byte MssOption = 2;
    private const byte MssOptionLength = 4;

    /// <summary>The marks of a packet that <see cref="PacketDecoder.Decode"/> returned <see cref="DecodeStatus.Ok"/> for (on any other status the facts are partly the previous packet's).</summary>
    public static ScannerTraits Of(in PacketFacts facts)
    {
        TrafficClass traffic = facts.Class;
        bool v4 = facts.IpVersion == 4;
        ScannerTraits traits = v4 && facts.IpId == ZMapIpId
            && traffic is TrafficClass.TcpSyn or TrafficClass.Udp or TrafficClass.IcmpRequest
            ? ScannerTraits.ZMap
            : ScannerTraits.None;
        if (traffic != TrafficClass.TcpSyn)
        {
            return traits;
        }

        if (facts.TcpWindow == NmapWindow && facts.TcpOptionsLength == MssOptionLength && facts.TcpFirstOption == MssOption)
        {
            traits |= ScannerTraits.Nmap;
        }

        if (!v4)
        {
            return traits;
        }

        uint destination = facts.Destination.V4;
        uint sequence = facts.TcpSequence;
        if (sequence == destination)
        {
            traits |= ScannerTraits.Mirai;
        }

        if (facts.IpId == (ushort)(destination ^ facts.DestinationPort ^ sequence))
        {
            traits |= ScannerTraits.Masscan;
        }

        return traits;
    }
}
