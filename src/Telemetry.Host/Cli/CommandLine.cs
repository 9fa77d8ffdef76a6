namespace Telemetry.Host.Cli;

/// <summary>
/// Splits a verb's arguments into its own flags (<c>--name value</c>), positional arguments,
/// and configuration overrides (<c>--Section:Key=value</c> or <c>--Section:Key value</c>),
/// which go on to the configuration system unchanged.
/// </summary>
internal sealed class CommandLine
{
    private readonly Dictionary<string, string> _flags = new(StringComparer.Ordinal);

    private CommandLine()
    {
    }

    public List<string> Positional { get; } = [];

    public List<string> ConfigurationArgs { get; } = [];

    public static CommandLine Parse(string[] args, params string[] flagNames)
    {
        var line = new CommandLine();
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (arg == "-" || !arg.StartsWith('-'))
            {
                line.Positional.Add(arg);
                continue;
            }

            string name = arg.TrimStart('-');
            string? value = null;
            int equals = name.IndexOf('=', StringComparison.Ordinal);
            if (equals >= 0)
            {
                value = name[(equals + 1)..];
                name = name[..equals];
            }

            if (name.Contains(':', StringComparison.Ordinal))
            {
                line.ConfigurationArgs.Add($"--{name}={value ?? (i + 1 < args.Length ? args[++i] : "")}");
                continue;
            }

            if (!flagNames.Contains(name, StringComparer.Ordinal))
            {
                throw new ArgumentException($"unknown option --{name}");
            }

            value ??= i + 1 < args.Length ? args[++i] : throw new ArgumentException($"--{name} needs a value");
            line._flags[name] = value;
        }

        return line;
    }

    public string? Get(string name) => _flags.GetValueOrDefault(name);

    public long GetInt64(string name, long fallback) =>
        _flags.TryGetValue(name, out string? text) ? long.Parse(text, System.Globalization.CultureInfo.InvariantCulture) : fallback;
}
