using Telemetry.Core.Decode;
using B = Telemetry.Testing.PacketBuilder;

namespace Telemetry.Core.Tests.Decode;

/// <summary>
/// Each scanner's mark on frames built byte by byte (not by the service's generator), read
/// through the real decoder, and the near misses that must not match.
/// </summary>
public class ScannerFingerprintTests
{
    private const string Src = "198.51.100.7";
    private const string Dst = "203.0.113.5";
    private const uint DstValue = (203u << 24) | (0u << 16) | (113u << 8) | 5u;
    private static readonly byte[] Mss = [2, 4, 5, 180];

    private static ScannerTraits TraitsOf(byte[] ip)
    {
        var facts = default(PacketFacts);
        Assert.Equal(DecodeStatus.Ok, PacketDecoder.Decode(LinkTypes.Raw, ip, ref facts));
        return ScannerFingerprint.Of(facts);
    }

    private static byte[] Syn(uint seq = 1000, ushort ipId = 1, ushort window = 29200, byte[]? options = null, ushort dport = 23, byte flags = B.Syn) =>
        B.Ipv4(Src, Dst, 6, B.Tcp(40000, dport, flags, seq, window, options), ipId);

    [Fact]
    public void Of_SequenceIsDestination_Mirai() => Assert.Equal(ScannerTraits.Mirai, TraitsOf(Syn(seq: DstValue)));

    [Fact]
    public void Of_SequenceOneOffDestination_None() => Assert.Equal(ScannerTraits.None, TraitsOf(Syn(seq: DstValue + 1)));

    [Fact]
    public void Of_SynAckWithSequenceOfDestination_None() =>
        Assert.Equal(ScannerTraits.None, TraitsOf(Syn(seq: DstValue, flags: B.Syn | B.Ack)));

    [Theory]
    [InlineData(6)]
    [InlineData(17)]
    [InlineData(1)]
    public void Of_ProbeWithIpId54321_ZMap(byte protocol)
    {
        byte[] transport = protocol switch
        {
            6 => B.Tcp(40000, 80, B.Syn, seq: 7, window: 65535),
            17 => B.Udp(40000, 53),
            _ => B.Icmp(8, 0),
        };
        Assert.Equal(ScannerTraits.ZMap, TraitsOf(B.Ipv4(Src, Dst, protocol, transport, ipId: 54321)));
    }

    [Fact]
    public void Of_BackscatterWithIpId54321_None()
    {
        Assert.Equal(ScannerTraits.None, TraitsOf(Syn(ipId: 54321, flags: B.Syn | B.Ack)));
        Assert.Equal(ScannerTraits.None, TraitsOf(B.Ipv4(Src, Dst, 1, B.Icmp(0, 0), ipId: 54321)));
    }

    [Theory]
    [InlineData(23u, 0x12345678u)]
    [InlineData(445u, 0xFFFF0000u)]
    [InlineData(8080u, 0u)]
    public void Of_IpIdFromDestinationPortAndSequence_Masscan(uint port, uint seq)
    {
        ushort ipId = (ushort)((DstValue ^ port ^ seq) & 0xFFFF);
        Assert.Equal(ScannerTraits.Masscan, TraitsOf(Syn(seq, ipId, window: 1024, dport: (ushort)port)));
        Assert.Equal(ScannerTraits.None, TraitsOf(Syn(seq, (ushort)(ipId ^ 1), window: 1024, dport: (ushort)port)));
    }

    [Fact]
    public void Of_Window1024WithOnlyMss_Nmap() => Assert.Equal(ScannerTraits.Nmap, TraitsOf(Syn(window: 1024, options: Mss)));

    [Fact]
    public void Of_NmapNearMisses_None()
    {
        Assert.Equal(ScannerTraits.None, TraitsOf(Syn(window: 1025, options: Mss)));
        Assert.Equal(ScannerTraits.None, TraitsOf(Syn(window: 1024)));
        Assert.Equal(ScannerTraits.None, TraitsOf(Syn(window: 1024, options: [2, 4, 5, 180, 1, 1, 4, 2])));
        Assert.Equal(ScannerTraits.None, TraitsOf(Syn(window: 1024, options: [3, 3, 7, 1])));
    }

    [Fact]
    public void Of_SeveralMarks_AllSet()
    {
        ushort ipId = (ushort)((DstValue ^ 23 ^ DstValue) & 0xFFFF);
        Assert.Equal(ScannerTraits.Mirai | ScannerTraits.Masscan | ScannerTraits.Nmap, TraitsOf(Syn(seq: DstValue, ipId: ipId, window: 1024, options: Mss)));
    }

    [Fact]
    public void Of_Ipv6SynWindow1024WithOnlyMss_NmapOnly()
    {
        byte[] ip = B.Ipv6("2001:db8::7", "2001:db8:ffff::5", 6, B.Tcp(40000, 23, B.Syn, 0, 1024, Mss));
        Assert.Equal(ScannerTraits.Nmap, TraitsOf(ip));
    }

    [Fact]
    public void Of_Ipv6SynWithoutOptions_None()
    {
        // Sequence 0 and IP ID absent: an IPv4 reading of zeros would meet Masscan's rule for port 0.
        byte[] ip = B.Ipv6("2001:db8::7", "::", 6, B.Tcp(40000, 0, B.Syn, 0, 1024));
        Assert.Equal(ScannerTraits.None, TraitsOf(ip));
    }

    [Theory]
    [InlineData(B.Syn | B.Ack)]
    [InlineData(B.Rst)]
    [InlineData(B.Ack)]
    public void Of_NotASyn_NoMasscanOrNmap(byte flags)
    {
        const ushort port = 445;
        const uint seq = 0x0BADF00D;
        ushort masscanId = (ushort)((DstValue ^ port ^ seq) & 0xFFFF);
        Assert.Equal(ScannerTraits.None, TraitsOf(Syn(seq, masscanId, window: 1024, dport: port, flags: flags)));
        Assert.Equal(ScannerTraits.None, TraitsOf(Syn(window: 1024, options: Mss, flags: flags)));
        Assert.Equal(ScannerTraits.Masscan, TraitsOf(Syn(seq, masscanId, window: 1024, dport: port)));
    }

    [Fact]
    public void Of_NonFirstFragment_None() =>
        Assert.Equal(ScannerTraits.None, TraitsOf(B.Ipv4(Src, Dst, 6, new byte[24], ipId: 54321, fragmentOffset: 10)));
}
