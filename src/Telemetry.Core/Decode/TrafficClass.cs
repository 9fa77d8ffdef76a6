namespace Telemetry.Core.Decode;

/// <summary>The traffic classes of product.md; every decoded packet gets exactly one.</summary>
public enum TrafficClass : byte
{
    TcpSyn,
    TcpSynAck,
    TcpRst,
    TcpOther,
    Udp,
    IcmpRequest,
    IcmpBackscatter,
    IcmpOther,
    Fragment,
    Other,
}

public static class TrafficClasses
{
    public const int Count = 10;

    private static readonly string[] s_names =
    [
        "tcp_syn", "tcp_synack", "tcp_rst", "tcp_other", "udp",
        "icmp_request", "icmp_backscatter", "icmp_other", "fragment", "other",
    ];

    /// <summary>The column and label value of a class.</summary>
    public static string Name(this TrafficClass value) => s_names[(int)value];

    public static IReadOnlyList<string> Names => s_names;

    public static bool TryParse(string name, out TrafficClass value)
    {
        int index = Array.IndexOf(s_names, name);
        value = (TrafficClass)Math.Max(index, 0);
        return index >= 0;
    }
}
