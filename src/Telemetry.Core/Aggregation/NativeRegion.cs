using System.Numerics;
using System.Runtime.InteropServices;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// A block of native memory that grows and shrinks: a <see cref="KeyTable{TKey, TValue}"/>'s
/// entries, or a <see cref="SlotArray"/>'s slots. Below <see cref="MapBytes"/> it comes from
/// malloc and is reallocated as it grows. From there on, on Linux (x86-64, arm64), it lives in a
/// reservation of address space of its own, a few times larger than it is, opened page by page
/// as it fills: growing within the reservation copies nothing and the block stays where it is.
/// One that outgrows its reservation moves to a larger one, and <c>mremap</c> moves its pages
/// there without copying them. The reservation starts on a 2 MiB boundary and asks for
/// transparent huge pages, so the millions of entries and slots of a large window, read at
/// random, sit on huge pages, and none of them is on the GC heap. Elsewhere the block is
/// reallocated at every size.
/// </summary>
/// <remarks>
/// The block may move when it is opened further or shrunk: <see cref="Base"/> holds only until
/// then. Address space and kernel mappings follow the memory a block holds rather than what it
/// might one day hold: a reservation as large as the owner could ever need (32 GB for a
/// table's entries) would let about 1,250 table sets exhaust a 47-bit address space, and
/// thousands of sensors each have tables; small blocks take no mapping of their own (the kernel
/// allows 65,530 per process by default). A reservation costs address space only: it is mapped
/// without access and without a commit charge, and a page is charged and touched only once it is
/// opened and written. Opened bytes read as zero, and so do bytes given back by
/// <see cref="Shrink"/> and opened again.
/// </remarks>
internal sealed unsafe class NativeRegion : IDisposable
{
    /// <summary>Blocks this size or larger live in a reservation of their own on Linux: one huge page.</summary>
    public const int MapBytes = NativePages.HugePageBytes;

    // The smallest block malloc is asked for; smaller sizes round up to it.
    private const nuint MinBlock = 64;

    // A reservation holds this many times the block it is made for (rounded up to a power of
    // two), but at least MinReservation: a table growing from 2 MiB to gigabytes moves about four
    // times, and address space stays within a small multiple of the memory in use.
    private const int ReservationGrowth = 8;
    private const nuint MinReservation = 32 << 20;

    private readonly nuint _max;
    private byte* _base;
    private nuint _open;

    // Bytes of address space reserved at _base; 0 while the block comes from malloc.
    private nuint _reserved;
    private bool _disposed;

    /// <summary>A region that will never be asked for more than <paramref name="maxBytes"/>; nothing is open yet.</summary>
    public NativeRegion(long maxBytes)
    {
        _max = Rounded(maxBytes);
    }

    ~NativeRegion() => Free();

    /// <summary>The first byte's address, until the block is next opened further or shrunk.</summary>
    public byte* Base => _base;

    /// <summary>Bytes that can be written from <see cref="Base"/>: opened, charged, possibly not yet touched.</summary>
    public long OpenBytes => (long)_open;

    /// <summary>Whether the block sits in a reservation of its own (Linux, <see cref="MapBytes"/> or more) rather than in malloc.</summary>
    public bool IsMapped => _reserved != 0;

    /// <summary>
    /// Makes at least the first <paramref name="bytes"/> writable, keeping their contents; what
    /// is added reads as zero. Sizes round up to a power of two below <see cref="MapBytes"/> and
    /// to whole 2 MiB pages from there on. The block may move.
    /// </summary>
    public void Open(long bytes)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        nuint wanted = Rounded(bytes);
        if (wanted <= _open)
        {
            return;
        }

        if (wanted > _max)
        {
            throw new InsufficientMemoryException($"{bytes} bytes asked of a block that holds at most {_max}");
        }

        if (!NativePages.Available || wanted < MapBytes)
        {
            _base = (byte*)NativeMemory.Realloc(_base, wanted);
            NativeMemory.Clear(_base + _open, wanted - _open);
        }
        else if (_reserved == 0)
        {
            // Out of malloc: a copy of at most half a huge page, once.
            CopyToReservation(wanted);
        }
        else if (wanted > _reserved)
        {
            Move(wanted);
        }
        else
        {
            NativePages.Protect(_base + _open, wanted - _open, NativePages.ReadWrite);
        }

        GC.AddMemoryPressure((long)(wanted - _open));
        _open = wanted;
    }

    /// <summary>Gives back what lies past the first <paramref name="bytes"/> (rounded up as <see cref="Open"/> rounds); the block may move.</summary>
    public void Shrink(long bytes)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        nuint keep = Rounded(bytes);
        if (keep >= _open)
        {
            return;
        }

        if (_reserved == 0)
        {
            _base = (byte*)NativeMemory.Realloc(_base, keep);
        }
        else if (keep >= MapBytes)
        {
            NativePages.Release(_base + keep, _open - keep);
            NativePages.Protect(_base + keep, _open - keep, NativePages.None);
        }
        else
        {
            // Back into malloc, so a block that stays small holds no mapping of its own.
            byte* block = (byte*)NativeMemory.Alloc(keep);
            Buffer.MemoryCopy(_base, block, keep, keep);
            FreeBlock();
            _base = block;
            _reserved = 0;
        }

        GC.RemoveMemoryPressure((long)(_open - keep));
        _open = keep;
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    // Moves the open block to a larger reservation: its pages change address, not place.
    private void Move(nuint wanted)
    {
        byte* reservation = Reserve(wanted, out nuint reserved);

        // The moved mapping is stretched over the whole reservation and what lies past the
        // wanted bytes closed again, which keeps the open part one mapping. (Moving just the open
        // part and opening the rest separately would leave two, which the kernel cannot merge:
        // the moved one keeps its old page offset.) Under strict overcommit the stretch would be
        // charged in full, so there only the open part moves.
        nuint moved = NativePages.StrictOvercommit ? _open : reserved;
        if (NativePages.TryMove(_base, _open, reservation, moved))
        {
            byte* old = _base;
            nuint oldReserved = _reserved;
            _base = reservation;
            _reserved = reserved;
            NativePages.Free(old + _open, oldReserved - _open);
            if (moved == reserved)
            {
                // Best effort: left open, the tail still costs nothing until written.
                _ = NativePages.TryProtect(reservation + wanted, reserved - wanted, NativePages.None);
            }
            else
            {
                NativePages.Protect(reservation + _open, wanted - _open, NativePages.ReadWrite);
            }

            return;
        }

        // The kernel refused (the open part is not one mapping, or it ran out of mappings).
        // Before refusing it may already have unmapped the destination (older kernels do), so
        // that range is not touched again: at worst its address space leaks.
        CopyToReservation(wanted);
    }

    // Copies the open block into a fresh reservation opened to `wanted` bytes, and lets the old block go.
    private void CopyToReservation(nuint wanted)
    {
        byte* reservation = Reserve(wanted, out nuint reserved);
        if (!NativePages.TryProtect(reservation, wanted, NativePages.ReadWrite))
        {
            NativePages.Free(reservation, reserved);
            throw new InsufficientMemoryException($"could not open {wanted} bytes of hash table (errno {Marshal.GetLastPInvokeError()})");
        }

        Buffer.MemoryCopy(_base, reservation, wanted, _open);
        FreeBlock();
        _base = reservation;
        _reserved = reserved;
    }

    // A fresh reservation for a block of `wanted` bytes and room to grow. Where address space
    // itself is limited (ulimit -v), each try is half the last, down to the block itself.
    private byte* Reserve(nuint wanted, out nuint reserved)
    {
        reserved = Math.Min(_max, Math.Max(MinReservation, BitOperations.RoundUpToPowerOf2(wanted) * ReservationGrowth));
        while (true)
        {
            byte* start = NativePages.TryReserve(reserved);
            if (start != null)
            {
                return start;
            }

            if (reserved == wanted)
            {
                throw new InsufficientMemoryException($"could not reserve {wanted} bytes of address space for hash tables (errno {Marshal.GetLastPInvokeError()})");
            }

            reserved = Math.Max(wanted, RoundUp(reserved / 2, NativePages.HugePageBytes));
        }
    }

    private void Free()
    {
        _disposed = true;
        if (_base == null)
        {
            return;
        }

        FreeBlock();
        _base = null;
        _reserved = 0;
        if (_open != 0)
        {
            GC.RemoveMemoryPressure((long)_open);
            _open = 0;
        }
    }

    // Gives the block back to where it came from: its reservation, or malloc.
    private void FreeBlock()
    {
        if (_reserved != 0)
        {
            NativePages.Free(_base, _reserved);
        }
        else
        {
            NativeMemory.Free(_base);
        }
    }

    // Powers of two (at least MinBlock) below a huge page, whole huge pages from there on.
    private static nuint Rounded(long bytes) => (nuint)bytes < NativePages.HugePageBytes
        ? Math.Max(MinBlock, BitOperations.RoundUpToPowerOf2((nuint)bytes))
        : RoundUp((nuint)bytes, NativePages.HugePageBytes);

    private static nuint RoundUp(nuint value, nuint multiple) => (value + multiple - 1) / multiple * multiple;
}
