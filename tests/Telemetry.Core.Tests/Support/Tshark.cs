using Telemetry.Testing;

namespace Telemetry.Core.Tests.Support;

/// <summary>Runs tshark (Wireshark's dissectors: an oracle nobody here wrote) over a capture.</summary>
internal static class Tshark
{
    /// <summary>One row per frame: the first occurrence of each field ("" when absent).</summary>
    public static async Task<List<string[]>> FieldsAsync(byte[] capture, params string[] fields)
    {
        string tshark = TestProcess.FindOnPath("tshark")
            ?? throw new InvalidOperationException("tshark is not installed; the decoder oracle needs it (Debian package tshark; ./test installs it)");
        string file = Path.Combine(Path.GetTempPath(), $"core-tests-{Guid.NewGuid():N}.pcapng");
        await File.WriteAllBytesAsync(file, capture);
        try
        {
            string[] arguments =
            [
                "-n", "-r", file, "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
                "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f",
                .. fields.SelectMany(field => new[] { "-e", field }),
            ];
            ProcessResult result = await TestProcess.RunAsync(tshark, arguments, TimeSpan.FromMinutes(2));
            Assert.True(result.ExitCode == 0, $"tshark failed: {result.Stderr}");
            return [.. result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split('\t'))];
        }
        finally
        {
            File.Delete(file);
        }
    }
}
