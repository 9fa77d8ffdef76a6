using System.Runtime.InteropServices;

namespace Telemetry.Core.Aggregation;

/// <summary>
/// Anonymous memory straight from the Linux kernel, for the hash tables' large slot arrays and
/// entries (<see cref="NativeRegion"/>): mapped, advised to use transparent huge pages, opened,
/// moved and given back. The flag values are those of Linux on
/// x86-64 and arm64; <see cref="Available"/> says whether this process may use them.
/// </summary>
internal static unsafe partial class NativePages
{
    /// <summary>Bytes of a huge page, and the boundary mappings that want them start on.</summary>
    public const int HugePageBytes = 2 << 20;

    public const int None = 0;
    public const int ReadWrite = 0x1 | 0x2; // PROT_READ | PROT_WRITE

    private const int PrivateAnonymous = 0x02 | 0x20; // MAP_PRIVATE | MAP_ANONYMOUS
    private const int NoReserve = 0x4000; // MAP_NORESERVE
    private const int HugePageAdvice = 14; // MADV_HUGEPAGE
    private const int DontNeedAdvice = 4; // MADV_DONTNEED
    private const int MayMove = 1; // MREMAP_MAYMOVE
    private const int FixedAddress = 2; // MREMAP_FIXED

    public static readonly bool Available = OperatingSystem.IsLinux()
        && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>
    /// Whether the kernel charges every writable private page when it is mapped
    /// (<c>vm.overcommit_memory</c> 2), ignoring <c>MAP_NORESERVE</c>: then a page is charged
    /// once opened, and stays charged even if closed again.
    /// </summary>
    public static readonly bool StrictOvercommit = Available && ReadsStrictOvercommit();

    /// <summary>
    /// Reserves <paramref name="bytes"/> of address space on a 2 MiB boundary (one more huge page
    /// is mapped, then the unaligned ends are unmapped), without access and without a commit
    /// charge: nothing is charged or touched until <see cref="Protect"/> opens part of it. It is
    /// advised to be backed by huge pages, which the kernel honours when its transparent huge
    /// pages are on or in <c>madvise</c> mode. Null when the kernel refuses the mapping.
    /// </summary>
    public static byte* TryReserve(nuint bytes)
    {
        nuint mapped = bytes + HugePageBytes;
        byte* start = (byte*)MapMemory(null, mapped, None, PrivateAnonymous | NoReserve, -1, 0);
        if (start == (byte*)-1)
        {
            return null;
        }

        byte* aligned = (byte*)(((nuint)start + HugePageBytes - 1) & ~((nuint)HugePageBytes - 1));
        nuint head = (nuint)(aligned - start);
        nuint tail = mapped - head - bytes;
        if (head != 0)
        {
            _ = Unmap(start, head);
        }

        if (tail != 0)
        {
            _ = Unmap(aligned + bytes, tail);
        }

        // Only advice: a kernel without transparent huge pages (or with them off) maps 4 KiB pages.
        _ = Advise(aligned, bytes, HugePageAdvice);
        return aligned;
    }

    /// <summary>Opens (<see cref="ReadWrite"/>) or closes (<see cref="None"/>) whole pages of a mapping.</summary>
    public static void Protect(byte* address, nuint bytes, int protection)
    {
        if (!TryProtect(address, bytes, protection))
        {
            throw new InsufficientMemoryException($"mprotect of {bytes} bytes for hash tables failed (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    /// <summary>As <see cref="Protect"/>, but false when the kernel refuses (it may run out of mappings when one is split).</summary>
    public static bool TryProtect(byte* address, nuint bytes, int protection) => ChangeProtection(address, bytes, protection) == 0;

    /// <summary>Hands whole pages back to the kernel; they read as zero if touched again.</summary>
    public static void Release(byte* address, nuint bytes) => _ = Advise(address, bytes, DontNeedAdvice);

    public static void Free(void* address, nuint bytes) => _ = Unmap(address, bytes);

    /// <summary>For tests: <see cref="TryMove"/> refuses without asking the kernel, as a kernel out of mappings would.</summary>
    internal static bool RefuseMoves { get; set; }

    /// <summary>
    /// Moves the mapping at <c>[from, from + bytes)</c> to <paramref name="to"/>, grown to
    /// <paramref name="newBytes"/> (replacing what was mapped there), without copying its pages:
    /// the kernel moves their page table entries, 2 MiB at a time when both ends are on huge page
    /// boundaries. The added part has the same protection and flags, and the whole is one mapping
    /// (one that is opened further later merges with it again). The old range is unmapped. False
    /// when the kernel refuses (the range spans two mappings, for one): then nothing has moved,
    /// but the kernel may already have unmapped the destination, which must not be used again.
    /// </summary>
    public static bool TryMove(byte* from, nuint bytes, byte* to, nuint newBytes) =>
        !RefuseMoves && RemapMemory(from, bytes, newBytes, MayMove | FixedAddress, to) != (void*)-1;

    [LibraryImport("libc", EntryPoint = "mremap", SetLastError = true)]
    private static partial void* RemapMemory(void* oldAddress, nuint oldLength, nuint newLength, int flags, void* newAddress);

    private static bool ReadsStrictOvercommit()
    {
        try
        {
            return File.ReadAllText("/proc/sys/vm/overcommit_memory").Trim() == "2";
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial void* MapMemory(void* address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int ChangeProtection(void* address, nuint length, int protection);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Advise(void* address, nuint length, int advice);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Unmap(void* address, nuint length);
}
