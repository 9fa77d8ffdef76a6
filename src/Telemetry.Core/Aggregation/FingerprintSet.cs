using System.Runtime.CompilerServices;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// The set of 64-bit fingerprints a window has seen: its (target, source, port) triples. A
/// fingerprint seen for the first time adds one to the distinct count of each row it belongs
/// to (the target's sources, the source's targets), so every row's count is exact and a row
/// holds a plain number instead of a set of its own. Open addressing with linear probing, at
/// most 3/4 full: 11–22 bytes per fingerprint. Two of the n fingerprints of a window coincide
/// with probability about n²/2⁶⁵ (2.7·10⁻⁶ at n = 10 million), the only way a count can be off.
/// </summary>
public sealed class FingerprintSet : IDisposable
{
    private const int MinSlots = 64;

    // A set this size or larger that filled under an eighth of its slots in each of its last
    // IdleUsesBeforeShrink windows shrinks by half (as KeyTable does).
    private const int ShrinkAbove = 1 << 17;
    private const int IdleUsesBeforeShrink = 8;

    // 0 marks an empty slot, so a fingerprint of 0 is stored as this constant instead.
    private const ulong ZeroStandIn = 0x9E3779B97F4A7C15UL;

    // Native memory (see SlotArray); null once the set is disposed.
    private SlotArray _slots = new(MinSlots);
    private int _count;
    private int _idleUses;
    private int _growths;
    private int _growAt = SlotArray.MaxLoad(MinSlots);

    public int Count => _count;

    /// <summary>Times the slot array doubled since the set was last cleared.</summary>
    public int Growths => _growths;

    /// <summary>Bytes held by the slot array (native memory).</summary>
    public long CapacityBytes => _slots.Bytes;

    /// <summary>Adds a fingerprint; true when it was not in the set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Add(ulong fingerprint)
    {
        if (fingerprint == 0)
        {
            fingerprint = ZeroStandIn;
        }

        SlotArray slots = _slots;
        int mask = slots.Mask;
        for (int i = (int)fingerprint & mask; ; i = (i + 1) & mask)
        {
            ulong slot = slots[i];
            if (slot == fingerprint)
            {
                return false;
            }

            if (slot == 0)
            {
                slots[i] = fingerprint;
                if (++_count >= _growAt)
                {
                    Grow();
                }

                return true;
            }
        }
    }

    /// <summary>Asks the CPU to start loading the fingerprint's first slot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(ulong fingerprint) => SlotPrefetch.Home(_slots, fingerprint);

    /// <summary>Empties the set, keeping its room unless the last use left most of it idle.</summary>
    public void Clear()
    {
        _idleUses = _count < _slots.Length / 8 ? _idleUses + 1 : 0;
        if (_slots.Length >= ShrinkAbove && _idleUses >= IdleUsesBeforeShrink)
        {
            _idleUses = 0;
            _slots.Resize(_slots.Length / 2);
            _growAt = SlotArray.MaxLoad(_slots.Length);
        }

        _slots.Clear();
        _count = 0;
        _growths = 0;
    }

    /// <summary>Makes room for <paramref name="count"/> fingerprints in all, so adding them does not grow the set.</summary>
    public void Reserve(int count)
    {
        int length = _slots.Length;
        while (SlotArray.MaxLoad(length) <= count && length < SlotArray.MaxLength)
        {
            length *= 2;
        }

        if (_count == 0)
        {
            // Every slot is empty, so no fingerprint has a home to move to.
            _slots.Resize(length);
            _growAt = SlotArray.MaxLoad(length);
        }
        else
        {
            while (_slots.Length < length)
            {
                Double();
            }
        }
    }

    /// <summary>Gives the slot array back to the system at once (see <see cref="KeyTable{TKey, TValue}.Dispose"/>); the set must not be used afterwards.</summary>
    public void Dispose()
    {
        _slots?.Dispose();
        _slots = null!;
    }

    private void Grow()
    {
        Double();
        _growths++;
    }

    // Doubles the slot array where it stands; a fingerprint is its own home's hash.
    private void Double()
    {
        _slots.Double(homeShift: 0);
        _growAt = SlotArray.MaxLoad(_slots.Length);
    }
}
