using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Telemetry.Core.Capture;

/// <summary>
/// Frames pcap and pcapng captures straight out of pipe buffers. One instance per stream:
/// it holds the format, byte order and interface table learned from the headers.
/// Records that fit in the buffer's first segment are returned as slices of it; only a
/// record that straddles segments is copied, into a scratch buffer the reader owns.
/// </summary>
public sealed class CaptureReader : IDisposable
{
    /// <summary>The longest packet record accepted (tcpdump's default snaplen).</summary>
    public const int DefaultMaxRecordBytes = 256 * 1024;

    /// <summary>Longest metadata block buffered (SHB, IDB, ISB with their options).</summary>
    public const int MaxMetadataBlockBytes = 1024 * 1024;

    /// <summary>Longest block skipped without being read (unknown block types).</summary>
    public const long MaxSkippedBlockBytes = 64L * 1024 * 1024;

    private const uint PcapMicro = 0xA1B2C3D4;
    private const uint PcapNano = 0xA1B23C4D;
    private const uint PcapMicroSwapped = 0xD4C3B2A1;
    private const uint PcapNanoSwapped = 0x4D3CB2A1;
    private const uint SectionHeaderBlock = 0x0A0D0D0A;
    private const uint ByteOrderMagic = 0x1A2B3C4D;
    private const uint InterfaceDescriptionBlock = 1;
    private const uint ObsoletePacketBlock = 2;
    private const uint SimplePacketBlock = 3;
    private const uint InterfaceStatisticsBlock = 5;
    private const uint EnhancedPacketBlock = 6;
    private const int PcapRecordHeader = 16;

    private static readonly long[] s_pow10 =
    [
        1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000,
        10_000_000_000, 100_000_000_000, 1_000_000_000_000, 10_000_000_000_000, 100_000_000_000_000,
        1_000_000_000_000_000, 10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000,
    ];

    private readonly int _maxRecordBytes;
    private byte[]? _scratch;
    private bool _bigEndian;
    private long _skipRemaining;
    private long _skipStart;

    // pcap
    private int _pcapLinkType;
    private long _pcapFractionNs;
    private uint _pcapSnapLen;

    // pcapng: the current section's interfaces
    private Interface[] _interfaces = new Interface[2];
    private int _interfaceCount;

    public CaptureReader(int maxRecordBytes = DefaultMaxRecordBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRecordBytes, 64);
        _maxRecordBytes = maxRecordBytes;
    }

    public CaptureFormat Format { get; private set; }

    /// <summary>Bytes consumed from the start of the stream.</summary>
    public long Position { get; private set; }

    /// <summary>Packets the capturing interfaces report dropped (pcapng ISB isb_ifdrop), summed over interfaces.</summary>
    public long ReportedDrops { get; private set; }

    /// <summary>The number of pcapng sections seen so far.</summary>
    public int Sections { get; private set; }

    /// <summary>True while an unknown block is being skipped: part of it is consumed, so the stream must not end here.</summary>
    public bool InsideBlock => _skipRemaining > 0;

    /// <summary>Where the record or block being read starts: the offset to report if the stream ends now.</summary>
    public long RecordStart => _skipRemaining > 0 ? _skipStart : Position;

    /// <summary>
    /// Reads the next packet record, consuming headers and metadata blocks on the way.
    /// Returns false when <paramref name="buffer"/> holds no complete record; the caller then
    /// reads more and calls again with the unconsumed rest.
    /// </summary>
    /// <exception cref="CaptureFormatException">The stream is malformed.</exception>
    public bool TryReadPacket(ref ReadOnlySequence<byte> buffer, out CapturedPacket packet)
    {
        while (true)
        {
            if (_skipRemaining > 0)
            {
                long n = Math.Min(_skipRemaining, buffer.Length);
                buffer = buffer.Slice(n);
                Position += n;
                _skipRemaining -= n;
                if (_skipRemaining > 0)
                {
                    packet = default;
                    return false;
                }
            }

            switch (Format)
            {
                case CaptureFormat.Pcap:
                    return TryReadPcapRecord(ref buffer, out packet);
                case CaptureFormat.PcapNg:
                    BlockResult result = TryReadBlock(ref buffer, out packet);
                    if (result == BlockResult.Packet)
                    {
                        return true;
                    }

                    if (result == BlockResult.NeedMore)
                    {
                        return false;
                    }

                    continue;
                default:
                    if (!TryReadFileHeader(ref buffer))
                    {
                        packet = default;
                        return false;
                    }

                    continue;
            }
        }
    }

    private bool TryReadFileHeader(ref ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < 4)
        {
            return false;
        }

        Span<byte> head = stackalloc byte[24];
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(Peek(buffer, head[..4]));
        if (magic == SectionHeaderBlock)
        {
            Format = CaptureFormat.PcapNg;
            return true;
        }

        bool nano;
        switch (magic)
        {
            case PcapMicro: _bigEndian = false; nano = false; break;
            case PcapNano: _bigEndian = false; nano = true; break;
            case PcapMicroSwapped: _bigEndian = true; nano = false; break;
            case PcapNanoSwapped: _bigEndian = true; nano = true; break;
            default:
                ThrowFormat(CaptureErrorKind.BadMagic, Position, $"not a pcap or pcapng capture (magic 0x{magic:X8})");
                return false;
        }

        if (buffer.Length < 24)
        {
            return false;
        }

        ReadOnlySpan<byte> header = Peek(buffer, head);
        _pcapFractionNs = nano ? 1 : 1000;
        _pcapSnapLen = U32(header[16..]);
        _pcapLinkType = (int)(U32(header[20..]) & 0xFFFF);
        Format = CaptureFormat.Pcap;
        buffer = buffer.Slice(24);
        Position += 24;
        return true;
    }

    private bool TryReadPcapRecord(ref ReadOnlySequence<byte> buffer, out CapturedPacket packet)
    {
        if (buffer.Length < PcapRecordHeader)
        {
            packet = default;
            return false;
        }

        Span<byte> headerCopy = stackalloc byte[PcapRecordHeader];
        ReadOnlySpan<byte> header = Peek(buffer, headerCopy);
        uint seconds = U32(header);
        uint fraction = U32(header[4..]);
        uint included = U32(header[8..]);
        uint original = U32(header[12..]);
        if (included == 0)
        {
            ThrowFormat(CaptureErrorKind.ZeroLengthRecord, Position, "zero-length pcap record");
        }

        if (included > _maxRecordBytes || (_pcapSnapLen != 0 && included > _pcapSnapLen))
        {
            ThrowFormat(CaptureErrorKind.RecordTooLong, Position,
                $"pcap record of {included} bytes exceeds the snaplen {_pcapSnapLen} or the {_maxRecordBytes}-byte limit");
        }

        if (original < included)
        {
            ThrowFormat(CaptureErrorKind.InconsistentLength, Position,
                $"pcap record claims {included} captured bytes but an original length of {original}");
        }

        int total = PcapRecordHeader + (int)included;
        if (buffer.Length < total)
        {
            packet = default;
            return false;
        }

        ReadOnlySpan<byte> record = Slice(buffer, total);
        long timestamp = (seconds * 1_000_000_000L) + (fraction * _pcapFractionNs);
        packet = new CapturedPacket(record[PcapRecordHeader..], timestamp, (int)original, _pcapLinkType);
        buffer = buffer.Slice(total);
        Position += total;
        return true;
    }

    private BlockResult TryReadBlock(ref ReadOnlySequence<byte> buffer, out CapturedPacket packet)
    {
        packet = default;
        if (buffer.Length < 12)
        {
            return BlockResult.NeedMore;
        }

        Span<byte> headCopy = stackalloc byte[12];
        ReadOnlySpan<byte> head = Peek(buffer, headCopy);
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(head);
        if (type == SectionHeaderBlock)
        {
            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(head[8..]);
            if (magic == ByteOrderMagic)
            {
                _bigEndian = false;
            }
            else if (BinaryPrimitives.ReverseEndianness(magic) == ByteOrderMagic)
            {
                _bigEndian = true;
            }
            else
            {
                ThrowFormat(CaptureErrorKind.BadMagic, Position, $"pcapng section header with byte-order magic 0x{magic:X8}");
            }
        }
        else
        {
            type = U32(head);
        }

        uint length = U32(head[4..]);
        long limit = type switch
        {
            EnhancedPacketBlock or SimplePacketBlock or ObsoletePacketBlock => _maxRecordBytes + 4096L,
            SectionHeaderBlock or InterfaceDescriptionBlock or InterfaceStatisticsBlock => MaxMetadataBlockBytes,
            _ => MaxSkippedBlockBytes,
        };
        if (length < 12 || (length & 3) != 0 || (type == SectionHeaderBlock && length < 28))
        {
            ThrowFormat(CaptureErrorKind.InconsistentLength, Position, $"pcapng block of type 0x{type:X} has an invalid length {length}");
        }

        if (length > limit)
        {
            ThrowFormat(CaptureErrorKind.RecordTooLong, Position, $"pcapng block of type 0x{type:X} is {length} bytes, over the {limit}-byte limit");
        }

        if (limit == MaxSkippedBlockBytes)
        {
            // A block nothing here needs: skip it as it streams past, without buffering it.
            _skipStart = Position;
            _skipRemaining = length;
            return BlockResult.Consumed;
        }

        if (buffer.Length < length)
        {
            return BlockResult.NeedMore;
        }

        ReadOnlySpan<byte> block = Slice(buffer, (int)length);
        if (U32(block[^4..]) != length)
        {
            ThrowFormat(CaptureErrorKind.InconsistentLength, Position,
                $"pcapng block of type 0x{type:X} has leading length {length} but trailing length {U32(block[^4..])}");
        }

        BlockResult result = BlockResult.Consumed;
        switch (type)
        {
            case SectionHeaderBlock:
                _interfaceCount = 0;
                Sections++;
                break;
            case InterfaceDescriptionBlock:
                ReadInterface(block);
                break;
            case InterfaceStatisticsBlock:
                ReadStatistics(block);
                break;
            case EnhancedPacketBlock:
            case ObsoletePacketBlock:
                packet = ReadEnhancedPacket(block, type == ObsoletePacketBlock);
                result = BlockResult.Packet;
                break;
            case SimplePacketBlock:
                packet = ReadSimplePacket(block);
                result = BlockResult.Packet;
                break;
            default:
                break;
        }

        buffer = buffer.Slice(length);
        Position += length;
        return result;
    }

    private CapturedPacket ReadEnhancedPacket(ReadOnlySpan<byte> block, bool obsolete)
    {
        int interfaceId = obsolete ? U16(block[8..]) : (int)Math.Min(U32(block[8..]), int.MaxValue);
        ref Interface iface = ref GetInterface(interfaceId);
        ulong ts = ((ulong)U32(block[12..]) << 32) | U32(block[16..]);
        uint captured = U32(block[20..]);
        uint original = U32(block[24..]);
        CheckPacketLength(captured, iface.SnapLen, (uint)block.Length - 32);
        return new CapturedPacket(block.Slice(28, (int)captured), iface.ToNanoseconds(ts), (int)Math.Min(original, int.MaxValue), iface.LinkType);
    }

    private CapturedPacket ReadSimplePacket(ReadOnlySpan<byte> block)
    {
        ref Interface iface = ref GetInterface(0);
        uint original = U32(block[8..]);
        uint captured = Math.Min(original, (uint)block.Length - 16);
        if (iface.SnapLen != 0)
        {
            captured = Math.Min(captured, iface.SnapLen);
        }

        CheckPacketLength(captured, 0, (uint)block.Length - 16);

        // A simple packet block carries no timestamp; the capture's clock is unknown, so it
        // takes the last timestamp seen on the interface.
        return new CapturedPacket(block.Slice(12, (int)captured), iface.LastTimestampNs, (int)Math.Min(original, int.MaxValue), iface.LinkType);
    }

    private void CheckPacketLength(uint captured, uint snapLen, uint room)
    {
        if (captured == 0)
        {
            ThrowFormat(CaptureErrorKind.ZeroLengthRecord, Position, "zero-length pcapng packet");
        }

        if (captured > room)
        {
            ThrowFormat(CaptureErrorKind.InconsistentLength, Position, $"pcapng packet claims {captured} captured bytes in a block with room for {room}");
        }

        if (captured > _maxRecordBytes || (snapLen != 0 && captured > snapLen))
        {
            ThrowFormat(CaptureErrorKind.RecordTooLong, Position,
                $"pcapng packet of {captured} bytes exceeds the snaplen {snapLen} or the {_maxRecordBytes}-byte limit");
        }
    }

    private ref Interface GetInterface(int id)
    {
        if ((uint)id >= (uint)_interfaceCount)
        {
            ThrowFormat(CaptureErrorKind.UnknownInterface, Position, $"pcapng packet names interface {id}, but the section describes {_interfaceCount}");
        }

        return ref _interfaces[id];
    }

    private void ReadInterface(ReadOnlySpan<byte> block)
    {
        if (block.Length < 20)
        {
            ThrowFormat(CaptureErrorKind.InconsistentLength, Position, "pcapng interface description block is too short");
        }

        var iface = new Interface
        {
            LinkType = U16(block[8..]),
            SnapLen = U32(block[12..]),
            ResolutionCode = 6,
        };

        ReadOnlySpan<byte> options = block[16..^4];
        while (options.Length >= 4)
        {
            int code = U16(options);
            int len = U16(options[2..]);
            if (code == 0 || 4 + len > options.Length)
            {
                break;
            }

            ReadOnlySpan<byte> value = options.Slice(4, len);
            if (code == 9 && len >= 1)
            {
                iface.ResolutionCode = value[0];
            }
            else if (code == 14 && len >= 8)
            {
                iface.OffsetNs = (_bigEndian ? BinaryPrimitives.ReadInt64BigEndian(value) : BinaryPrimitives.ReadInt64LittleEndian(value)) * 1_000_000_000L;
            }

            options = options[Math.Min(options.Length, 4 + ((len + 3) & ~3))..];
        }

        if ((iface.ResolutionCode & 0x80) == 0 && iface.ResolutionCode > 18)
        {
            ThrowFormat(CaptureErrorKind.InconsistentLength, Position, $"pcapng if_tsresol 10^-{iface.ResolutionCode} is out of range");
        }

        if (_interfaceCount == _interfaces.Length)
        {
            Array.Resize(ref _interfaces, _interfaces.Length * 2);
        }

        _interfaces[_interfaceCount++] = iface;
    }

    private void ReadStatistics(ReadOnlySpan<byte> block)
    {
        if (block.Length < 24)
        {
            return;
        }

        uint id = U32(block[8..]);
        if (id >= _interfaceCount)
        {
            return;
        }

        ref Interface iface = ref _interfaces[id];
        ReadOnlySpan<byte> options = block[20..^4];
        while (options.Length >= 4)
        {
            int code = U16(options);
            int len = U16(options[2..]);
            if (code == 0 || 4 + len > options.Length)
            {
                break;
            }

            if (code == 5 && len >= 8)
            {
                // isb_ifdrop is cumulative since the interface opened; count what is new.
                ulong drops = _bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(options[4..]) : BinaryPrimitives.ReadUInt64LittleEndian(options[4..]);
                if (drops > iface.Drops)
                {
                    ReportedDrops += (long)Math.Min(drops - iface.Drops, long.MaxValue);
                    iface.Drops = drops;
                }
            }

            options = options[Math.Min(options.Length, 4 + ((len + 3) & ~3))..];
        }
    }

    /// <summary>A view of the first <paramref name="length"/> bytes, copied only when they straddle segments.</summary>
    private ReadOnlySpan<byte> Slice(in ReadOnlySequence<byte> buffer, int length)
    {
        ReadOnlySpan<byte> first = buffer.FirstSpan;
        if (first.Length >= length)
        {
            return first[..length];
        }

        if (_scratch is null || _scratch.Length < length)
        {
            if (_scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(_scratch);
            }

            _scratch = ArrayPool<byte>.Shared.Rent(Math.Max(length, 64 * 1024));
        }

        buffer.Slice(0, length).CopyTo(_scratch);
        return _scratch.AsSpan(0, length);
    }

    private static ReadOnlySpan<byte> Peek(in ReadOnlySequence<byte> buffer, Span<byte> copy)
    {
        ReadOnlySpan<byte> first = buffer.FirstSpan;
        if (first.Length >= copy.Length)
        {
            return first[..copy.Length];
        }

        buffer.Slice(0, copy.Length).CopyTo(copy);
        return copy;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint U32(ReadOnlySpan<byte> s) =>
        _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ushort U16(ReadOnlySpan<byte> s) =>
        _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s);

    [DoesNotReturn]
    private static void ThrowFormat(CaptureErrorKind kind, long offset, string message) =>
        throw new CaptureFormatException(kind, offset, message);

    public void Dispose()
    {
        if (_scratch is not null)
        {
            ArrayPool<byte>.Shared.Return(_scratch);
            _scratch = null;
        }
    }

    private enum BlockResult
    {
        NeedMore,
        Consumed,
        Packet,
    }

    private struct Interface
    {
        public int LinkType;
        public uint SnapLen;
        public byte ResolutionCode;
        public long OffsetNs;
        public ulong Drops;
        public long LastTimestampNs;

        /// <summary>Converts a timestamp in the interface's if_tsresol units to Unix nanoseconds.</summary>
        public long ToNanoseconds(ulong ts)
        {
            long ns;
            if ((ResolutionCode & 0x80) == 0)
            {
                int exponent = ResolutionCode;
                ns = exponent <= 9
                    ? (long)(ts * (ulong)s_pow10[9 - exponent])
                    : (long)(ts / (ulong)s_pow10[exponent - 9]);
            }
            else
            {
                int shift = ResolutionCode & 0x7F;
                ns = (long)(((UInt128)ts * 1_000_000_000UL) >> shift);
            }

            LastTimestampNs = ns + OffsetNs;
            return LastTimestampNs;
        }
    }
}
