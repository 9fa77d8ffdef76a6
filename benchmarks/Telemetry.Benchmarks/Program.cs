using BenchmarkDotNet.Running;

namespace Telemetry.Benchmarks;

public static class Program
{
    public static async Task Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "engine")
        {
            await EngineLoad.RunAsync(args[1..]);
            return;
        }

        if (args.Length > 0 && args[0] == "keys")
        {
            await KeyCount.RunAsync(args[1..]);
            return;
        }

        if (args.Length > 0 && args[0] == "hotpath-parts")
        {
            HotPathParts.Run(args[1..]);
            return;
        }

        if (args.Length > 0 && args[0] == "rehash")
        {
            RehashLoad.Run(args[1..]);
            return;
        }

        if (args.Length > 0 && args[0] == "pagetouch")
        {
            PageTouch.Run(args[1..]);
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
