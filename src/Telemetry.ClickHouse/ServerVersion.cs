using System.Globalization;

namespace Telemetry.ClickHouse;

/// <summary>A ClickHouse server version and the optional features the schema uses when present.</summary>
public readonly record struct ServerVersion(int Major, int Minor)
{
    /// <summary>
    /// LowCardinality, the IPv6 type, column codecs, TTL and SimpleAggregateFunction all exist,
    /// without experimental flags, from 21.8 (an LTS) on.
    /// </summary>
    public bool IsModern => Major > 21 || (Major == 21 && Minor >= 8);

    public static ServerVersion Parse(string text)
    {
        string[] parts = text.Trim().Split('.');
        if (parts.Length < 2
            || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int major)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int minor))
        {
            throw new FormatException($"unrecognised ClickHouse version '{text.Trim()}'");
        }

        return new ServerVersion(major, minor);
    }

    public override string ToString() => $"{Major}.{Minor}";
}
