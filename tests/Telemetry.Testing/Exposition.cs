using System.Globalization;
using System.Text.RegularExpressions;

namespace Telemetry.Testing;

/// <summary>One sample of the Prometheus text exposition format.</summary>
public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string Label(string name) => Labels.TryGetValue(name, out string? value) ? value : "";
}

/// <summary>A small parser of the Prometheus text exposition format, enough to assert on samples.</summary>
public static partial class Exposition
{
    public static List<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (string line in text.Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            Match match = SampleLine().Match(line);
            if (!match.Success)
            {
                throw new FormatException($"unparsable exposition line: {line}");
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (Match label in LabelPair().Matches(match.Groups["labels"].Value))
            {
                labels[label.Groups[1].Value] = Regex.Unescape(label.Groups[2].Value);
            }

            samples.Add(new Sample(match.Groups["name"].Value, labels, double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture)));
        }

        return samples;
    }

    /// <summary>The value of the one sample named <paramref name="name"/> with these labels (others may differ); throws unless exactly one matches.</summary>
    public static double Value(this List<Sample> samples, string name, params (string Name, string Value)[] labels)
    {
        var matching = samples.Where(s => s.Name == name && labels.All(l => s.Label(l.Name) == l.Value)).ToList();
        if (matching.Count != 1)
        {
            throw new InvalidOperationException(
                $"expected one sample {name}{{{string.Join(',', labels.Select(l => $"{l.Name}=\"{l.Value}\""))}}}, found {matching.Count}");
        }

        return matching[0].Value;
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+-?\d+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""((?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelPair();
}
