namespace Telemetry.Core.Decode;

/// <summary>The outcome of decoding one frame; everything but <see cref="Ok"/> is a reason a packet was undecodable.</summary>
public enum DecodeStatus : byte
{
    Ok,
    UnsupportedLinkType,
    NonIp,
    TruncatedLink,
    TruncatedIp,
    BadIpHeader,
    TruncatedTransport,
}

public static class DecodeStatuses
{
    /// <summary>The number of undecodable reasons (every status but Ok).</summary>
    public const int ReasonCount = 6;

    private static readonly string[] s_names =
    [
        "ok", "unsupported_link_type", "non_ip", "truncated_link", "truncated_ip", "bad_ip_header", "truncated_transport",
    ];

    public static string Name(this DecodeStatus status) => s_names[(int)status];
}
