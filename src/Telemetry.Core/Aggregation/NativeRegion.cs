using System.Numerics;
using System.Runtime.InteropServices;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// Native memory that grows in place: a <see cref="KeyTable{TKey, TValue}"/>'s entries, and the
/// slots of a large <see cref="SlotArray"/>. On Linux (x86-64, arm64) it is one reservation of
/// address space as large as its owner can ever need, opened page by page as it fills: what it
/// holds never moves, growing copies nothing, and an entry's address is the base plus its index
/// times its size. The reservation starts on a 2 MiB boundary and asks for transparent huge
/// pages, which the kernel gives to every whole 2 MiB of it that is open, so the millions of
/// entries and slots of a large window, read at random, sit on huge pages, and none of them is
/// on the GC heap. Elsewhere the block is reallocated as it grows, so it may move.
/// </summary>
/// <remarks>
/// A reservation costs address space only: it is mapped without access and without a commit
/// charge, and a page is charged and touched only once it is opened and written. Opening is in
/// powers of two below 2 MiB (so a small table holds a few pages) and in whole 2 MiB pages above.
/// Newly opened pages read as zero on Linux; elsewhere their contents are undefined.
/// </remarks>
internal sealed unsafe class NativeRegion : IDisposable
{
    // The smallest reservation tried before giving up: 32 huge pages.
    private const nuint MinReservation = 64 << 20;

    private readonly nuint _reserved;
    private byte* _base;
    private nuint _open;
    private bool _disposed;

    /// <summary>Reserves room for up to <paramref name="maxBytes"/> of entries; opens none of it yet.</summary>
    public NativeRegion(long maxBytes)
    {
        if (NativePages.Available)
        {
            // Where address space itself is limited (ulimit -v), a smaller reservation still
            // serves every table that fits it; one that outgrows it fails as out of memory.
            // Each try is half the last, in whole huge pages, so the reservation stays aligned.
            for (nuint reserve = RoundUp((nuint)maxBytes, NativePages.HugePageBytes); _base == null; reserve = reserve / 2 / NativePages.HugePageBytes * NativePages.HugePageBytes)
            {
                _base = NativePages.TryMap(reserve, huge: true, NativePages.None);
                _reserved = reserve;
                if (_base == null && reserve <= MinReservation)
                {
                    throw new InsufficientMemoryException($"could not reserve {reserve} bytes of address space for hash table entries");
                }
            }
        }
    }

    ~NativeRegion() => Free();

    /// <summary>The first entry's address. On Linux it never changes; elsewhere <see cref="Open"/> may move it.</summary>
    public byte* Base => _base;

    /// <summary>Bytes that can be written from <see cref="Base"/>: opened, charged, possibly not yet touched.</summary>
    public long OpenBytes => (long)_open;

    /// <summary>Makes at least the first <paramref name="bytes"/> writable (rounded up, see the remarks); their contents are kept.</summary>
    public void Open(long bytes)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        nuint wanted = Rounded(bytes);
        if (wanted <= _open)
        {
            return;
        }

        if (NativePages.Available)
        {
            if (wanted > _reserved)
            {
                throw new InsufficientMemoryException($"hash table entries need {bytes} bytes, more than the {_reserved} reserved");
            }

            NativePages.Protect(_base + _open, wanted - _open, NativePages.ReadWrite);
        }
        else
        {
            _base = (byte*)NativeMemory.Realloc(_base, wanted);
        }

        GC.AddMemoryPressure((long)(wanted - _open));
        _open = wanted;
    }

    /// <summary>Gives back what lies past the first <paramref name="bytes"/> (rounded up as <see cref="Open"/> rounds).</summary>
    public void Shrink(long bytes)
    {
        nuint keep = Rounded(bytes);
        if (keep >= _open)
        {
            return;
        }

        if (NativePages.Available)
        {
            NativePages.Release(_base + keep, _open - keep);
            NativePages.Protect(_base + keep, _open - keep, NativePages.None);
        }
        else
        {
            _base = (byte*)NativeMemory.Realloc(_base, keep);
        }

        GC.RemoveMemoryPressure((long)(_open - keep));
        _open = keep;
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        _disposed = true;
        if (_base == null)
        {
            return;
        }

        if (NativePages.Available)
        {
            NativePages.Free(_base, _reserved);
        }
        else
        {
            NativeMemory.Free(_base);
        }

        _base = null;
        if (_open != 0)
        {
            GC.RemoveMemoryPressure((long)_open);
            _open = 0;
        }
    }

    // Powers of two (at least a page) up to a huge page, whole huge pages above.
    private static nuint Rounded(long bytes) => (nuint)bytes <= NativePages.HugePageBytes
        ? Math.Max(NativePages.PageBytes, BitOperations.RoundUpToPowerOf2((nuint)bytes))
        : RoundUp((nuint)bytes, NativePages.HugePageBytes);

    private static nuint RoundUp(nuint value, nuint multiple) => (value + multiple - 1) / multiple * multiple;
}
