using System.Collections;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Telemetry.Core.Aggregation;

/// <summary>A key of a <see cref="KeyTable{TKey, TValue}"/>: equality and a well-mixed 64-bit hash.</summary>
public interface ITableKey<TKey> : IEquatable<TKey>
    where TKey : struct, ITableKey<TKey>
{
    /// <summary>Its low 32 bits are used: the lowest pick the slot, and all 32 are kept in the slot as its tag.</summary>
    ulong Hash { get; }
}

/// <summary>One key and its value, stored inline in the table's dense entry array (packed to 4 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public struct TableEntry<TKey, TValue>
{
    public TKey Key;
    public TValue Value;
}

/// <summary>
/// The hash table behind the window tables: keys are added one by one and removed only in bulk
/// (<see cref="RemoveWhere"/>, when the flusher merges partials). Keys and values sit inline in dense
/// entries in insertion order; a separate slot array (open addressing, linear
/// probing, at most 3/4 full) holds 8-byte words of a 32-bit tag (the low half of the key's
/// hash, which holds the bits of its home slot) and the entry's position. A new key costs one
/// slot read (and an append at the end of the entries, which is usually in cache); an existing
/// key the slot and its entry; other keys in the probe are mostly rejected by their tag without
/// touching their entries. <see cref="Prefetch"/> lets
/// a caller that knows its next keys start the slot reads early, which hides most of the cache
/// misses of a table of millions of keys. <see cref="Dictionary{TKey, TValue}"/> takes two
/// dependent misses (bucket, then entry) for every key, new or not.
/// Entries live in one block of native memory (<see cref="NativeRegion"/>): malloc while small,
/// and on Linux from 2 MiB on a reservation that is opened as the table grows, so a large table
/// copies no entries as it grows (when it outgrows the reservation, the kernel moves its pages),
/// an entry's address needs no chunk lookup, and a large table's entries sit on huge pages like
/// its slots. Being native memory, keys and values must hold no references. The slot array
/// doubles in place (<see cref="SlotArray.Double"/>): each word's tag says where it moves, so
/// growing reads no entry.
/// A reference returned by <see cref="GetValueRefOrAddDefault"/>, <see cref="GetValueRefOrNullRef"/>
/// or <see cref="EntryAt"/> is valid until the next key is added to the same table (the entries'
/// block may move as it grows), keys are removed, or the table is cleared.
/// </summary>
public sealed unsafe class KeyTable<TKey, TValue> : IEnumerable<KeyValuePair<TKey, TValue>>, IDisposable
    where TKey : unmanaged, ITableKey<TKey>
    where TValue : unmanaged
{
    private const int MinSlots = 16;
    private const int MaxSlots = SlotArray.MaxLength;

    // A slot word's home is its high half's low bits (see Word).
    private const int WordHomeShift = 32;

    // A table this size or larger that used under a quarter of its room in each of its last
    // IdleUsesBeforeShrink windows shrinks by half, so a burst does not pin its memory for good,
    // while a table that is sometimes full (the pool hands tables to windows of any size) keeps it.
    private const int ShrinkAbove = 1 << 16;
    private const int IdleUsesBeforeShrink = 8;

    private static readonly int EntryBytes = sizeof(TableEntry<TKey, TValue>);

    // Native memory (see SlotArray); null once the table is disposed.
    private SlotArray _slots = new(MinSlots);
    private readonly NativeRegion _entries = new(MaxLoad(MaxSlots) * (long)EntryBytes);

    // Entries the open part of the entry region holds room for.
    private int _room;
    private int _count;
    private int _idleUses;
    private int _growths;

    // Set by Clear, reset by the first insert: a second Clear of an unused table is not another idle window.
    private bool _cleared;

    // The most keys the table held before a RemoveWhere since the last Clear (0 if none): what
    // Clear judges the window's use by, so rows moved out do not make a full table look idle.
    private int _heldBeforeRemoval;

    public KeyTable()
    {
        AddRoom(MaxLoad(MinSlots));
    }

    public int Count => _count;

    /// <summary>Times the slot array doubled (a rehash of every key) since the table was last cleared.</summary>
    public int Growths => _growths;

    /// <summary>Bytes of one entry and its 4/3 slots (rounded up): what a key costs at full load.</summary>
    public int BytesPerKey => SlotArray.BytesPerKeyAtMaxLoad + EntryBytes;

    /// <summary>Bytes held by the slot array and the open part of the entry region (both native memory).</summary>
    public long CapacityBytes => _slots.Bytes + _entries.OpenBytes;

    public IEnumerable<TKey> Keys => this.Select(pair => pair.Key);

    public IEnumerable<TValue> Values => this.Select(pair => pair.Value);

    public TValue this[TKey key] =>
        TryGetValue(key, out TValue value) ? value : throw new KeyNotFoundException($"{key} is not in the table");

    /// <summary>The entry at a position in insertion order (0 to <see cref="Count"/> - 1); valid until a key is added or removed or the table is cleared.</summary>
    public ref TableEntry<TKey, TValue> EntryAt(int index)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)_count, nameof(index));
        return ref Entry(index);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref TValue GetValueRefOrAddDefault(scoped in TKey key, out bool exists) =>
        ref GetValueRefOrAddDefault(key, key.Hash, out exists);

    /// <summary>
    /// <see cref="GetValueRefOrAddDefault(in TKey, out bool)"/> for a caller that has the key's
    /// <see cref="ITableKey{TKey}.Hash"/> already (worked out once for its prefetches and its
    /// lookup); <paramref name="hash"/> must be that hash.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref TValue GetValueRefOrAddDefault(scoped in TKey key, ulong hash, out bool exists)
    {
        Debug.Assert(hash == key.Hash, "the hash passed is the key's");
        uint tag = (uint)hash;
        SlotArray slots = _slots;
        int mask = slots.Mask;
        int i = (int)hash & mask;
        while (true)
        {
            ulong slot = slots[i];
            if (slot == 0)
            {
                exists = false;
                return ref Insert(key, hash, i);
            }

            if ((uint)(slot >> 32) == tag)
            {
                ref TableEntry<TKey, TValue> entry = ref Entry((int)(uint)slot - 1);
                if (entry.Key.Equals(key))
                {
                    exists = true;
                    return ref entry.Value;
                }
            }

            i = (i + 1) & mask;
        }
    }

    public bool TryGetValue(in TKey key, out TValue value)
    {
        ref TValue found = ref GetValueRefOrNullRef(key);
        if (Unsafe.IsNullRef(ref found))
        {
            value = default!;
            return false;
        }

        value = found;
        return true;
    }

    /// <summary>The value of a key in the table (valid as <see cref="EntryAt"/>'s), or a null reference when the key is not in it.</summary>
    public ref TValue GetValueRefOrNullRef(scoped in TKey key)
    {
        ulong hash = key.Hash;
        SlotArray slots = _slots;
        int mask = slots.Mask;
        for (int i = (int)hash & mask; slots[i] != 0; i = (i + 1) & mask)
        {
            ulong slot = slots[i];
            if ((uint)(slot >> 32) == (uint)hash && Entry((int)(uint)slot - 1).Key.Equals(key))
            {
                return ref Entry((int)(uint)slot - 1).Value;
            }
        }

        return ref Unsafe.NullRef<TValue>();
    }

    /// <summary>
    /// Removes every entry for which <paramref name="remove"/> holds, keeping the others in
    /// insertion order, and puts the slots back from the entries left: one pass over the
    /// entries and a rehash, with no new memory. Entry positions change, so no reference from
    /// <see cref="EntryAt"/> or a lookup survives it. The table keeps its room: for its next
    /// <see cref="Clear"/>, it held as many keys as before the removal.
    /// </summary>
    public void RemoveWhere(Func<TKey, TValue, bool> remove)
    {
        int kept = 0;
        for (int i = 0; i < _count; i++)
        {
            ref TableEntry<TKey, TValue> entry = ref Entry(i);
            if (!remove(entry.Key, entry.Value))
            {
                if (kept != i)
                {
                    Entry(kept) = entry;
                }

                kept++;
            }
        }

        if (kept != _count)
        {
            _heldBeforeRemoval = Math.Max(_heldBeforeRemoval, _count);
            _slots.Clear();
            _count = kept;
            PutBackSlots();
        }
    }

    public bool ContainsKey(in TKey key) => TryGetValue(key, out _);

    /// <summary>Asks the CPU to start loading the cache line of the key's first slot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(in TKey key) => PrefetchHome(key.Hash);

    /// <summary>Asks the CPU to start loading the cache line of the first slot of the key with this hash.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchHome(ulong hash) => SlotPrefetch.Home(_slots, hash);

    /// <summary>
    /// The second stage of a two-stage prefetch, for a key whose home slot an earlier
    /// <see cref="Prefetch"/> has brought into cache: follows the key's probe through the slots
    /// of that cache line and, when one holds the key's tag, asks the CPU to start loading the
    /// entry it points to, the second miss of a key already in the table. A key displaced past
    /// the end of the line is left to the lookup, so this never waits for memory itself.
    /// </summary>
    /// <returns>
    /// Whether a slot of the home line held the key's tag (so the key is very likely in the
    /// table); false when the probe met an empty slot or left the line.
    /// </returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool PrefetchEntry(in TKey key) => PrefetchEntry(key.Hash);

    /// <summary><see cref="PrefetchEntry(in TKey)"/> by the key's hash, which is all it reads of the key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe bool PrefetchEntry(ulong hash)
    {
        uint tag = (uint)hash;
        SlotArray slots = _slots;
        int mask = slots.Mask;
        int i = (int)hash & mask;
        while (true)
        {
            ulong slot = slots[i];
            if (slot == 0)
            {
                return false;
            }

            if ((uint)(slot >> 32) == tag)
            {
                SlotPrefetch.Line(ref Entry((int)(uint)slot - 1));
                return true;
            }

            i = (i + 1) & mask;
            if (i == 0 || ((nint)slots.AddressOf(i) & (SlotPrefetch.LineBytes - 1)) == 0)
            {
                return false;
            }
        }
    }

    /// <summary>
    /// Asks the CPU to start loading the entry at a position in insertion order (both of its
    /// cache lines when it straddles two), for a reader about to visit entries out of order; a
    /// position outside the table is ignored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchAt(int index)
    {
        if ((uint)index < (uint)_count)
        {
            byte* entry = _entries.Base + ((nint)index * EntryBytes);
            SlotPrefetch.Line(ref *entry);
            SlotPrefetch.Line(ref entry[EntryBytes - 1]);
        }
    }

    /// <summary>Empties the table, keeping its room unless the last use left most of it idle.</summary>
    public void Clear()
    {
        if (_cleared)
        {
            return;
        }

        _cleared = true;
        int held = Math.Max(_count, _heldBeforeRemoval);
        _heldBeforeRemoval = 0;
        _idleUses = held < MaxLoad(_slots.Length) / 4 ? _idleUses + 1 : 0;
        ClearSlots();
        if (_slots.Length >= ShrinkAbove && _idleUses >= IdleUsesBeforeShrink)
        {
            _idleUses = 0;
            _slots.Resize(_slots.Length / 2);
            // Entry room beyond what the smaller slot array can index is given back.
            _entries.Shrink(MaxLoad(_slots.Length) * (long)EntryBytes);
            SetRoom();
        }

        _count = 0;
        _growths = 0;
    }

    /// <summary>
    /// Makes room for <paramref name="keys"/> keys in all, so that adding them neither doubles
    /// the slot array nor adds entry room mid-window: a window sized from the one before it
    /// pays its allocations once, up front, instead of rehashing its keys at every doubling.
    /// </summary>
    public void Reserve(int keys)
    {
        int slots = _slots.Length;
        while (MaxLoad(slots) < keys && slots < MaxSlots)
        {
            slots *= 2;
        }

        if (slots != _slots.Length)
        {
            Rehash(slots);
        }

        int entries = Math.Min(keys, MaxLoad(slots));
        if (_room < entries)
        {
            AddRoom(entries);
        }
    }

    /// <summary>
    /// Gives the slot array and the entries back to the system at once instead of when the GC
    /// finalizes them; the table must not be used afterwards (it then holds no keys).
    /// </summary>
    public void Dispose()
    {
        _slots?.Dispose();
        _slots = null!;
        _entries.Dispose();
        _count = 0;
        _room = 0;
    }

    // A big table that held few keys clears just their slots instead of the whole array. Each
    // used slot holds its entry's exact word, found by probing from the key's home slot; slots
    // already zeroed on the way are passed over, since the word is known to lie further on.
    private void ClearSlots()
    {
        SlotArray slots = _slots;
        if (_count * 8L >= slots.Length)
        {
            slots.Clear();
            return;
        }

        int mask = slots.Mask;
        for (int e = 0; e < _count; e++)
        {
            ulong hash = Entry(e).Key.Hash;
            ulong word = Word(hash, e);
            int i = (int)hash & mask;
            while (slots[i] != word)
            {
                i = (i + 1) & mask;
            }

            slots[i] = 0;
        }
    }

    public Enumerator GetEnumerator() => new(this);

    IEnumerator<KeyValuePair<TKey, TValue>> IEnumerable<KeyValuePair<TKey, TValue>>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private static int MaxLoad(int slots) => SlotArray.MaxLoad(slots);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref TableEntry<TKey, TValue> Entry(int index) => ref ((TableEntry<TKey, TValue>*)_entries.Base)[index];

    private ref TValue Insert(scoped in TKey key, ulong hash, int slot)
    {
        if (_count == _room)
        {
            AddRoom(_count + 1);
        }

        if (_count == MaxLoad(_slots.Length))
        {
            GrowSlots();
            slot = _slots.FreeSlot(hash);
        }

        _cleared = false;
        int index = _count++;
        ref TableEntry<TKey, TValue> entry = ref Entry(index);
        entry.Key = key;
        entry.Value = default!;
        _slots[slot] = Word(hash, index);
        return ref entry.Value;
    }

    // Opens entry room for at least `entries` (the region rounds up: powers of two while small,
    // then whole huge pages).
    private void AddRoom(int entries)
    {
        _entries.Open(entries * (long)EntryBytes);
        SetRoom();
    }

    // The entries the open region holds, up to the most any slot array can index.
    private void SetRoom() => _room = (int)Math.Min(_entries.OpenBytes / EntryBytes, MaxLoad(MaxSlots));

    // Doubles the slot array where it stands. A word's high half is its key's hash's low half, which
    // holds every bit of its home slot, so the words move to their new homes by themselves: one
    // pass along the slots, reading no entry and writing no slot at random.
    private void GrowSlots()
    {
        _slots.Double(WordHomeShift);
        _growths++;
    }

    // A slot word: the low 32 bits of the key's hash (the tag), then the entry's position + 1 (never 0).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Word(ulong hash, int index) => ((ulong)(uint)hash << 32) | (uint)(index + 1);

    // Resizes the slot array (SlotArray.Resize: in place while its reservation has room) and puts every entry back from its key:
    // the entries, in insertion order, say where each slot word goes, so nothing old need survive.
    private void Rehash(int length)
    {
        SlotArray slots = _slots;
        if (_count != 0)
        {
            // An empty table's slots are all zero already (Clear empties the ones it used).
            slots.Clear();
        }

        slots.Resize(length);
        PutBackSlots();
    }

    // Fills the (all empty) slot array from the entries.
    private void PutBackSlots()
    {
        SlotArray slots = _slots;
        for (int i = 0; i < _count; i++)
        {
            ulong hash = Entry(i).Key.Hash;
            slots[slots.FreeSlot(hash)] = Word(hash, i);
        }
    }

    /// <summary>Walks the entries in insertion order, as key-value pairs.</summary>
    public struct Enumerator : IEnumerator<KeyValuePair<TKey, TValue>>
    {
        private readonly KeyTable<TKey, TValue> _table;
        private int _index;

        internal Enumerator(KeyTable<TKey, TValue> table)
        {
            _table = table;
            _index = -1;
        }

        public readonly KeyValuePair<TKey, TValue> Current
        {
            get
            {
                ref TableEntry<TKey, TValue> entry = ref _table.Entry(_index);
                return new KeyValuePair<TKey, TValue>(entry.Key, entry.Value);
            }
        }

        readonly object IEnumerator.Current => Current;

        public bool MoveNext() => ++_index < _table._count;

        public void Reset() => _index = -1;

        public readonly void Dispose()
        {
        }
    }
}
