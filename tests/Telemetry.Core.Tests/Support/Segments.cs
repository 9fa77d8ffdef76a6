using System.Buffers;

namespace Telemetry.Core.Tests.Support;

/// <summary>Builds multi-segment <see cref="ReadOnlySequence{T}"/>s the way a pipe hands them out.</summary>
internal static class Segments
{
    /// <summary>A sequence of linked segments, one per chunk (empty chunks included).</summary>
    public static ReadOnlySequence<byte> Create(IReadOnlyList<ReadOnlyMemory<byte>> chunks)
    {
        if (chunks.Count == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        Segment first = new(chunks[0], 0);
        Segment last = first;
        for (int i = 1; i < chunks.Count; i++)
        {
            last = last.Append(chunks[i]);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Two chunks split at <paramref name="offset"/>.</summary>
    public static ReadOnlyMemory<byte>[] SplitAt(byte[] data, int offset) => [data.AsMemory(0, offset), data.AsMemory(offset)];

    /// <summary>Chunks of <paramref name="size"/> bytes (the last may be shorter).</summary>
    public static ReadOnlyMemory<byte>[] Chunks(byte[] data, int size)
    {
        var chunks = new ReadOnlyMemory<byte>[(data.Length + size - 1) / size];
        for (int i = 0; i < chunks.Length; i++)
        {
            int start = i * size;
            chunks[i] = data.AsMemory(start, Math.Min(size, data.Length - start));
        }

        return chunks;
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
