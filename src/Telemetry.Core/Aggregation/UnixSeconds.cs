namespace Telemetry.Core.Aggregation;

/// <summary>Whole Unix seconds as ClickHouse's <c>DateTime</c> holds them.</summary>
public static class UnixSeconds
{
    /// <summary>The second a Unix time in nanoseconds falls in; times before 1970 become 0, after 2106 the last second.</summary>
    public static uint From(long unixNs) => unixNs <= 0 ? 0 : (uint)Math.Min(unixNs / 1_000_000_000, uint.MaxValue);
}
