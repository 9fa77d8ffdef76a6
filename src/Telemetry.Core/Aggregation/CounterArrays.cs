using System.Collections.Concurrent;
using System.Numerics;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// The arrays distinct counters grow into, recycled across windows. ArrayPool.Shared keeps only
/// a handful of arrays per size, but one window releases hundreds of thousands at once, so the
/// next window would allocate them all again; this pool keeps them, up to
/// <see cref="MaxRetainedBytes"/>. Rent on a shard thread, return on the flusher: thread-safe.
/// </summary>
internal static class CounterArrays
{
    /// <summary>Most bytes kept for reuse; arrays returned beyond this are left to the GC.</summary>
    public const long MaxRetainedBytes = 512L * 1024 * 1024;

    private const int MinLength = 16;
    private const int MaxLength = 1 << 13;
    private static readonly ConcurrentQueue<ulong[]>[] s_values = CreateQueues<ulong[]>(BitOperations.Log2(MaxLength / MinLength) + 1);
    private static readonly ConcurrentQueue<byte[]> s_registers = new();
    private static long s_retained;

    /// <summary>A ulong array of exactly <paramref name="length"/> (a power of two, 16–8192), contents unspecified.</summary>
    public static ulong[] RentValues(int length)
    {
        if (s_values[Bucket(length)].TryDequeue(out ulong[]? array))
        {
            Interlocked.Add(ref s_retained, -(long)length * sizeof(ulong));
            return array;
        }

        return GC.AllocateUninitializedArray<ulong>(length);
    }

    public static void ReturnValues(ulong[] array)
    {
        long bytes = (long)array.Length * sizeof(ulong);
        if (Interlocked.Add(ref s_retained, bytes) > MaxRetainedBytes)
        {
            Interlocked.Add(ref s_retained, -bytes);
            return;
        }

        s_values[Bucket(array.Length)].Enqueue(array);
    }

    /// <summary>A zeroed register array of <see cref="DistinctCounter.RegisterCount"/> bytes.</summary>
    public static byte[] RentRegisters()
    {
        if (s_registers.TryDequeue(out byte[]? array))
        {
            Interlocked.Add(ref s_retained, -array.Length);
            Array.Clear(array);
            return array;
        }

        return new byte[DistinctCounter.RegisterCount];
    }

    public static void ReturnRegisters(byte[] array)
    {
        if (Interlocked.Add(ref s_retained, array.Length) > MaxRetainedBytes)
        {
            Interlocked.Add(ref s_retained, -array.Length);
            return;
        }

        s_registers.Enqueue(array);
    }

    private static int Bucket(int length) => BitOperations.Log2((uint)length / MinLength);

    private static ConcurrentQueue<T>[] CreateQueues<T>(int count)
    {
        var queues = new ConcurrentQueue<T>[count];
        for (int i = 0; i < count; i++)
        {
            queues[i] = new ConcurrentQueue<T>();
        }

        return queues;
    }
}
