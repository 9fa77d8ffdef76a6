using System.Globalization;

namespace Telemetry.Core.Tests.Support;

/// <summary>The process's memory mappings as Linux lists them (<c>/proc/self/maps</c>, <c>/proc/self/smaps</c>).</summary>
internal static class Mappings
{
    /// <summary>Every mapping's address range, [From, To).</summary>
    public static IEnumerable<(ulong From, ulong To)> Ranges() =>
        File.ReadLines("/proc/self/maps").Select(line => Range(line)!.Value);

    /// <summary>How many mappings overlap [start, start + bytes).</summary>
    public static int Overlapping(ulong start, ulong bytes) =>
        Ranges().Count(range => range.From < start + bytes && range.To > start);

    /// <summary>The line starting with <paramref name="field"/> (e.g. <c>VmFlags:</c>) of the mapping in smaps that holds [start, start + bytes), or null.</summary>
    public static string? Field(ulong start, ulong bytes, string field)
    {
        string[] lines = File.ReadAllLines("/proc/self/smaps");
        for (int i = 0; i < lines.Length; i++)
        {
            if (Range(lines[i]) is { } range && range.From <= start && range.To >= start + bytes)
            {
                return lines.Skip(i + 1).First(line => line.StartsWith(field, StringComparison.Ordinal));
            }
        }

        return null;
    }

    // The range of a line that opens a mapping ("from-to perms ..."); null for smaps' field lines.
    private static (ulong From, ulong To)? Range(string line)
    {
        int dash = line.IndexOf('-');
        int space = line.IndexOf(' ');
        return dash > 0 && space > dash
            && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, null, out ulong from)
            && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, null, out ulong to)
            ? (from, to)
            : null;
    }
}
