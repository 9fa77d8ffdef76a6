using System.Globalization;

/// <summary>
/// Loaded by the runtime before Main when DOTNET_STARTUP_HOOKS names this assembly; at process
/// exit writes one line of GC totals to the file GC_REPORT_FILE names (stderr if unset):
/// bytes allocated over the process's life, collections per generation, total pause time and
/// the largest committed heap.
/// </summary>
internal static class StartupHook
{
    public static void Initialize() => AppDomain.CurrentDomain.ProcessExit += (_, _) => Report();

    private static void Report()
    {
        GCMemoryInfo info = GC.GetGCMemoryInfo(GCKind.Any);
        string line = string.Create(CultureInfo.InvariantCulture,
            $"gc: allocated_bytes={GC.GetTotalAllocatedBytes(precise: true)} gen0={GC.CollectionCount(0)} gen1={GC.CollectionCount(1)} gen2={GC.CollectionCount(2)} " +
            $"pause_ms={GC.GetTotalPauseDuration().TotalMilliseconds:F0} committed_bytes={info.TotalCommittedBytes} server_gc={System.Runtime.GCSettings.IsServerGC}");
        string? path = Environment.GetEnvironmentVariable("GC_REPORT_FILE");
        if (string.IsNullOrEmpty(path))
        {
            Console.Error.WriteLine(line);
        }
        else
        {
            File.AppendAllText(path, line + Environment.NewLine);
        }
    }
}
