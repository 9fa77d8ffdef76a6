using System.Buffers;

namespace Telemetry.ClickHouse;

/// <summary>
/// A growable byte buffer made of 1 MiB segments rented from <see cref="ArrayPool{T}.Shared"/>:
/// one INSERT body (statement and rows) is built here and sent from here, and a retry sends the
/// same bytes again. <see cref="Clear"/> keeps the segments for the next body; <see cref="Dispose"/>
/// returns them. A span handed out by <see cref="GetSpan"/> is always contiguous: when the current
/// segment has less room than asked for, its tail is left unused and writing moves to the next one.
/// </summary>
internal sealed class RowBinaryBuffer : IBufferWriter<byte>, IDisposable
{
    public const int SegmentSize = 1 << 20;

    private byte[][] _segments = new byte[8][];
    private int[] _lengths = new int[8];
    private int _rented;
    private int _active;
    private int _used;
    private long _completed;

    /// <summary>Bytes written since the last <see cref="Clear"/>.</summary>
    public long Length => _completed + _used;

    /// <summary>Bytes held in rented segments.</summary>
    public long Capacity
    {
        get
        {
            long total = 0;
            for (int i = 0; i < _rented; i++)
            {
                total += _segments[i].Length;
            }

            return total;
        }
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        if (_active < _rented && _segments[_active].Length - _used >= Math.Max(sizeHint, 1))
        {
            return _segments[_active].AsSpan(_used);
        }

        return NextSegment(sizeHint);
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        GetSpan(sizeHint);
        return _segments[_active].AsMemory(_used);
    }

    public void Advance(int count)
    {
        if ((uint)count > (uint)(_segments[_active].Length - _used))
        {
            throw new ArgumentOutOfRangeException(nameof(count));
        }

        _used += count;
    }

    public void Write(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            Span<byte> span = GetSpan(1);
            int n = Math.Min(span.Length, bytes.Length);
            bytes[..n].CopyTo(span);
            Advance(n);
            bytes = bytes[n..];
        }
    }

    /// <summary>Empties the buffer and keeps its segments.</summary>
    public void Clear()
    {
        _active = 0;
        _used = 0;
        _completed = 0;
    }

    /// <summary>Copies the content out, for tests.</summary>
    public byte[] ToArray()
    {
        byte[] result = new byte[Length];
        int offset = 0;
        for (int i = 0; i <= _active && i < _rented; i++)
        {
            int length = SegmentLength(i);
            _segments[i].AsSpan(0, length).CopyTo(result.AsSpan(offset));
            offset += length;
        }

        return result;
    }

    /// <summary>
    /// A read-only stream over the current content, for an HTTP request body. Disposing it leaves
    /// the buffer alone; the buffer must not change while the stream is in use.
    /// </summary>
    public Stream OpenRead() => new ReadStream(this);

    public void Dispose()
    {
        for (int i = 0; i < _rented; i++)
        {
            ArrayPool<byte>.Shared.Return(_segments[i]);
            _segments[i] = null!;
        }

        _rented = 0;
        Clear();
    }

    private int SegmentLength(int index) => index == _active ? _used : _lengths[index];

    private Span<byte> NextSegment(int sizeHint)
    {
        if (_active < _rented)
        {
            // Leave the rest of this segment unused, unless nothing was written to it yet.
            if (_used > 0)
            {
                _lengths[_active] = _used;
                _completed += _used;
                _active++;
            }
        }

        _used = 0;
        int size = Math.Max(SegmentSize, sizeHint);
        if (_active < _rented)
        {
            if (_segments[_active].Length < size)
            {
                ArrayPool<byte>.Shared.Return(_segments[_active]);
                _segments[_active] = ArrayPool<byte>.Shared.Rent(size);
            }
        }
        else
        {
            if (_rented == _segments.Length)
            {
                Array.Resize(ref _segments, _rented * 2);
                Array.Resize(ref _lengths, _rented * 2);
            }

            _segments[_rented++] = ArrayPool<byte>.Shared.Rent(size);
        }

        return _segments[_active].AsSpan();
    }

    /// <summary>Reads the buffer's segments in order; seekable, so the request gets a Content-Length.</summary>
    private sealed class ReadStream(RowBinaryBuffer buffer) : Stream
    {
        private readonly long _length = buffer.Length;
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => _length;

        public override long Position
        {
            get => _position;
            set => _position = Math.Clamp(value, 0, _length);
        }

        public override int Read(byte[] array, int offset, int count) => Read(array.AsSpan(offset, count));

        public override int Read(Span<byte> destination)
        {
            int total = 0;
            while (!destination.IsEmpty && _position < _length)
            {
                (int segment, int offset) = Locate(_position);
                int n = Math.Min(destination.Length, buffer.SegmentLength(segment) - offset);
                buffer._segments[segment].AsSpan(offset, n).CopyTo(destination);
                destination = destination[n..];
                _position += n;
                total += n;
            }

            return total;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(destination.Span));

        public override Task<int> ReadAsync(byte[] array, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(array.AsSpan(offset, count)));

        /// <summary>Writes the segments straight to the destination, without a copy buffer.</summary>
        public override async Task CopyToAsync(Stream destination, int bufferSize, CancellationToken cancellationToken)
        {
            while (_position < _length)
            {
                (int segment, int offset) = Locate(_position);
                int n = buffer.SegmentLength(segment) - offset;
                await destination.WriteAsync(buffer._segments[segment].AsMemory(offset, n), cancellationToken).ConfigureAwait(false);
                _position += n;
            }
        }

        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => _length + offset,
        };

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] array, int offset, int count) => throw new NotSupportedException();

        private (int Segment, int Offset) Locate(long position)
        {
            int segment = 0;
            while (position >= buffer.SegmentLength(segment))
            {
                position -= buffer.SegmentLength(segment);
                segment++;
            }

            return (segment, (int)position);
        }
    }
}
