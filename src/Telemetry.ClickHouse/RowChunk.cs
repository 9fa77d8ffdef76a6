using System.Buffers;
using Telemetry.Core.Aggregation;

namespace Telemetry.ClickHouse;

/// <summary>Rows of one window in a <see cref="RowChunk"/>: <see cref="Count"/> positions from <see cref="Start"/> on.</summary>
internal readonly record struct ChunkSegment(WindowTables? Window, byte[] Sensor, uint WindowStart, int Start, int Count);

/// <summary>Where encoding a <see cref="RowChunk"/> has got to: a segment and a row in it.</summary>
internal struct ChunkCursor
{
    public int Segment;
    public int Row;
}

/// <summary>
/// The rows of one INSERT, held as their positions in the window tables rather than as bytes:
/// the body is encoded while it is sent (<see cref="OpenRead"/>), so an insert of a million rows
/// holds 4 bytes per row instead of its 60-odd encoded bytes, and a retry encodes the very same
/// bytes again from the same positions (the tables do not change until the flush has ended).
/// </summary>
internal sealed class RowChunk
{
    private readonly List<ChunkSegment> _segments = [];
    private int[] _positions = new int[1024];

    /// <summary>The writer that took the rows and encodes them.</summary>
    public ITableRowWriter? Writer { get; private set; }

    /// <summary>The batch the rows are from.</summary>
    public RollupBatch? Batch { get; private set; }

    public int Rows { get; private set; }

    public IReadOnlyList<ChunkSegment> Segments => _segments;

    /// <summary>Row positions of every segment, one after the other.</summary>
    public ReadOnlySpan<int> Positions => _positions.AsSpan(0, Rows);

    /// <summary>Empties the chunk for rows of <paramref name="batch"/> taken by <paramref name="writer"/>.</summary>
    public void Reset(ITableRowWriter? writer, RollupBatch? batch)
    {
        Writer = writer;
        Batch = batch;
        Rows = 0;
        _segments.Clear();
    }

    /// <summary>Lets go of the batch's tables, so a kept chunk does not hold them past their flush.</summary>
    public void Release() => Reset(null, null);

    /// <summary>Adds a segment of the rows at <paramref name="positions"/>, copied (the caller may reuse its array).</summary>
    public void AddSegment(WindowTables? window, byte[] sensor, uint windowStart, ReadOnlySpan<int> positions) =>
        positions.CopyTo(Append(window, sensor, windowStart, positions.Length));

    /// <summary>Adds a segment of the <paramref name="count"/> rows from position <paramref name="first"/> on.</summary>
    public void AddRun(WindowTables? window, byte[] sensor, uint windowStart, int first, int count)
    {
        Span<int> positions = Append(window, sensor, windowStart, count);
        for (int i = 0; i < positions.Length; i++)
        {
            positions[i] = first + i;
        }
    }

    private Span<int> Append(WindowTables? window, byte[] sensor, uint windowStart, int count)
    {
        if (Rows + count > _positions.Length)
        {
            Array.Resize(ref _positions, Math.Max(Rows + count, _positions.Length * 2));
        }

        _segments.Add(new ChunkSegment(window, sensor, windowStart, Rows, count));
        Span<int> positions = _positions.AsSpan(Rows, count);
        Rows += count;
        return positions;
    }

    /// <summary>
    /// The INSERT's body, <paramref name="statement"/> and then the rows, encoded as it is read:
    /// not seekable, so HTTP sends it chunked. Each call starts from the first byte again.
    /// </summary>
    public Stream OpenRead(byte[] statement) => new BodyStream(this, statement);

    private sealed class BodyStream(RowChunk chunk, byte[] statement) : Stream
    {
        private const int StagingBytes = 64 * 1024;

        private byte[]? _staging;
        private bool _disposed;
        private int _stagedStart;
        private int _stagedEnd;
        private int _statementSent;
        private ChunkCursor _cursor;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> destination)
        {
            if (_stagedStart == _stagedEnd && !Stage())
            {
                return 0;
            }

            int n = Math.Min(destination.Length, _stagedEnd - _stagedStart);
            _staging.AsSpan(_stagedStart, n).CopyTo(destination);
            _stagedStart += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(destination.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer.AsSpan(offset, count)));

        public override async Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
        {
            while (_stagedStart < _stagedEnd || Stage())
            {
                await destination.WriteAsync(_staging.AsMemory(_stagedStart, _stagedEnd - _stagedStart), cancellationToken).ConfigureAwait(false);
                _stagedStart = _stagedEnd;
            }
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            _disposed = true;
            byte[]? staging = _staging;
            _staging = null;
            _stagedStart = _stagedEnd = 0;
            if (staging is not null)
            {
                ArrayPool<byte>.Shared.Return(staging);
            }

            base.Dispose(disposing);
        }

        // Fills the staging buffer with what comes next: the rest of the statement, then as many
        // whole rows as fit. False once everything has been read.
        private bool Stage()
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _staging ??= ArrayPool<byte>.Shared.Rent(StagingBytes);
            int n = Math.Min(statement.Length - _statementSent, _staging.Length);
            statement.AsSpan(_statementSent, n).CopyTo(_staging);
            _statementSent += n;
            if (_statementSent == statement.Length && _cursor.Segment < chunk.Segments.Count)
            {
                n += chunk.Writer!.Encode(chunk, ref _cursor, _staging.AsSpan(n));
                if (n == 0 && _cursor.Segment < chunk.Segments.Count)
                {
                    // A row larger than the buffer (a sensor name of tens of kilobytes): make room.
                    byte[] larger = ArrayPool<byte>.Shared.Rent(_staging.Length * 2);
                    ArrayPool<byte>.Shared.Return(_staging);
                    _staging = larger;
                    return Stage();
                }
            }

            _stagedStart = 0;
            _stagedEnd = n;
            return n > 0;
        }
    }
}
