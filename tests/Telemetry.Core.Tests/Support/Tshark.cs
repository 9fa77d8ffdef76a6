using System.Diagnostics;

namespace Telemetry.Core.Tests.Support;

/// <summary>Runs tshark (Wireshark's dissectors: an oracle nobody here wrote) over a capture.</summary>
internal static class Tshark
{
    public static readonly string? Path = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => System.IO.Path.Combine(dir, "tshark"))
        .FirstOrDefault(File.Exists);

    /// <summary>One row per frame: the first occurrence of each field ("" when absent).</summary>
    public static List<string[]> Fields(byte[] capture, params string[] fields)
    {
        string file = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"core-tests-{Guid.NewGuid():N}.pcapng");
        File.WriteAllBytes(file, capture);
        try
        {
            var start = new ProcessStartInfo(Path ?? "tshark")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string argument in new[]
            {
                "-n", "-r", file, "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
                "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f",
            })
            {
                start.ArgumentList.Add(argument);
            }

            foreach (string field in fields)
            {
                start.ArgumentList.Add("-e");
                start.ArgumentList.Add(field);
            }

            using Process process = Process.Start(start)!;
            Task<string> errors = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"tshark failed: {errors.Result}");
            return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('\t'))];
        }
        finally
        {
            File.Delete(file);
        }
    }
}

/// <summary>A fact that is skipped where tshark is not installed.</summary>
public sealed class TsharkFactAttribute : FactAttribute
{
    public TsharkFactAttribute()
    {
        if (Tshark.Path is null)
        {
            Skip = "tshark is not installed";
        }
    }
}
