using Telemetry.Core.Decode;
using Telemetry.Core.Net;
using Telemetry.Testing;
using B = Telemetry.Testing.PacketBuilder;

namespace Telemetry.Core.Tests.Decode;

public class PacketDecoderTests
{
    private const string Src4 = "198.51.100.7";
    private const string Dst4 = "203.0.113.5";
    private const string Src6 = "2001:db8::7";
    private const string Dst6 = "2001:db8:ffff::5";

    private static byte[] TcpV4(byte flags = B.Syn, ushort dport = 23) => B.Ipv4(Src4, Dst4, 6, B.Tcp(40000, dport, flags));

    private static byte[] TcpV6(byte flags = B.Syn, ushort dport = 23, params B.Extension[] extensions) =>
        B.Ipv6(Src6, Dst6, 6, B.Tcp(40000, dport, flags), 64, extensions);

    private static PacketFacts DecodeOk(int linkType, byte[] frame)
    {
        var facts = default(PacketFacts);
        DecodeStatus status = PacketDecoder.Decode(linkType, frame, ref facts);
        Assert.Equal(DecodeStatus.Ok, status);
        return facts;
    }

    private static DecodeStatus DecodeStatusOf(int linkType, byte[] frame)
    {
        var facts = default(PacketFacts);
        return PacketDecoder.Decode(linkType, frame, ref facts);
    }

    private static void AssertTcpSyn(PacketFacts facts, byte[] ip)
    {
        bool v6 = (ip[0] >> 4) == 6;
        Assert.Equal(v6 ? 6 : 4, facts.IpVersion);
        Assert.Equal(IpAddr.Parse(v6 ? Src6 : Src4), facts.Source);
        Assert.Equal(IpAddr.Parse(v6 ? Dst6 : Dst4), facts.Destination);
        Assert.Equal(6, facts.Protocol);
        Assert.Equal(40000, facts.SourcePort);
        Assert.Equal(23, facts.DestinationPort);
        Assert.Equal(23, facts.Port);
        Assert.Equal(TrafficClass.TcpSyn, facts.Class);
        Assert.Equal((uint)ip.Length, facts.IpBytes);
        Assert.False(facts.IsFragment);
    }

    [Theory]
    [InlineData("ethernet", false)]
    [InlineData("ethernet", true)]
    [InlineData("vlan", false)]
    [InlineData("vlan", true)]
    [InlineData("qinq", false)]
    [InlineData("qinq", true)]
    [InlineData("raw", false)]
    [InlineData("raw", true)]
    [InlineData("ipv4", false)]
    [InlineData("ipv6", true)]
    [InlineData("sll", false)]
    [InlineData("sll", true)]
    [InlineData("sll2", false)]
    [InlineData("sll2", true)]
    [InlineData("null_le", false)]
    [InlineData("null_be", false)]
    [InlineData("loop", false)]
    [InlineData("loop", true)]
    public void Decode_EveryLinkType_DecodesTcpSyn(string link, bool v6)
    {
        byte[] ip = v6 ? TcpV6() : TcpV4();
        (int linkType, byte[] frame) = link switch
        {
            "ethernet" => (LinkTypes.Ethernet, B.Ethernet(ip)),
            "vlan" => (LinkTypes.Ethernet, B.Ethernet(ip, 0x8100)),
            "qinq" => (LinkTypes.Ethernet, B.Ethernet(ip, 0x88A8, 0x8100)),
            "raw" => (LinkTypes.Raw, ip),
            "ipv4" => (LinkTypes.Ipv4, ip),
            "ipv6" => (LinkTypes.Ipv6, ip),
            "sll" => (LinkTypes.LinuxSll, B.Sll(ip)),
            "sll2" => (LinkTypes.LinuxSll2, B.Sll2(ip)),
            "null_le" => (LinkTypes.Null, B.Null(ip, loop: false, bigEndian: false)),
            "null_be" => (LinkTypes.Null, B.Null(ip, loop: false, bigEndian: true)),
            "loop" => (LinkTypes.Loop, B.Null(ip, loop: true, bigEndian: true, ipv6Family: 30)),
            _ => throw new ArgumentOutOfRangeException(nameof(link)),
        };

        AssertTcpSyn(DecodeOk(linkType, frame), ip);
    }

    [Theory]
    [InlineData(false, 24u)]
    [InlineData(false, 28u)]
    [InlineData(false, 30u)]
    [InlineData(false, 10u)]
    [InlineData(true, 24u)]
    [InlineData(true, 28u)]
    [InlineData(true, 30u)]
    [InlineData(true, 10u)]
    public void Decode_NullLinkWithIpv6Family_DecodesIpv6(bool bigEndian, uint family)
    {
        byte[] ip = TcpV6();
        AssertTcpSyn(DecodeOk(LinkTypes.Null, B.Null(ip, loop: false, bigEndian, family)), ip);
    }

    [Theory]
    [InlineData(LinkTypes.Null, false)]
    [InlineData(LinkTypes.Null, true)]
    [InlineData(LinkTypes.Loop, true)]
    public void Decode_NullLinkWithUnknownFamily_IsNonIp(int linkType, bool bigEndian)
    {
        byte[] frame = B.Null(TcpV4(), linkType == LinkTypes.Loop, bigEndian);
        frame[bigEndian ? 3 : 0] = 7;
        Assert.Equal(DecodeStatus.NonIp, DecodeStatusOf(linkType, frame));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(8)]
    [InlineData(40)]
    public void Decode_Ipv4WithOptions_SkipsOptions(int optionBytes)
    {
        // Router alert, then NOPs, then end of options.
        byte[] options = new byte[optionBytes];
        options[0] = 0x94;
        options[1] = 4;
        for (int i = 4; i < optionBytes - 1; i++)
        {
            options[i] = 1;
        }

        byte[] ip = B.Ipv4(Src4, Dst4, 17, B.Udp(5353, 161), ipId: 54321, ttl: 255, options: options);
        PacketFacts facts = DecodeOk(LinkTypes.Ethernet, B.Ethernet(ip));
        Assert.Equal(TrafficClass.Udp, facts.Class);
        Assert.Equal(5353, facts.SourcePort);
        Assert.Equal(161, facts.Port);
        Assert.Equal(54321, facts.IpId);
        Assert.Equal(255, facts.Ttl);
        Assert.Equal((uint)ip.Length, facts.IpBytes);
    }

    [Theory]
    [InlineData("hbh")]
    [InlineData("rt")]
    [InlineData("dst")]
    [InlineData("frag")]
    [InlineData("hbh,dst,rt,frag,dst")]
    public void Decode_Ipv6WithExtensionHeaders_DecodesTransport(string chain)
    {
        B.Extension[] extensions = Extensions(chain, fragmentOffset: 0);
        foreach ((byte protocol, byte[] transport, TrafficClass expectedClass, ushort port) in new[]
        {
            ((byte)6, B.Tcp(1234, 445, B.Syn | B.Ack), TrafficClass.TcpSynAck, (ushort)445),
            ((byte)17, B.Udp(1234, 53), TrafficClass.Udp, (ushort)53),
            ((byte)58, B.Icmp(128, 0), TrafficClass.IcmpRequest, (ushort)(128 * 256)),
        })
        {
            byte[] ip = B.Ipv6(Src6, Dst6, protocol, transport, 64, extensions);
            PacketFacts facts = DecodeOk(LinkTypes.Ethernet, B.Ethernet(ip));
            Assert.Equal(protocol, facts.Protocol);
            Assert.Equal(expectedClass, facts.Class);
            Assert.Equal(port, facts.Port);
            Assert.Equal((uint)ip.Length, facts.IpBytes);
            Assert.False(facts.IsFragment);
        }
    }

    private static B.Extension[] Extensions(string chain, int fragmentOffset) =>
        [.. chain.Split(',').Select(name => name switch
        {
            "hbh" => B.HopByHop(),
            "rt" => B.Routing(),
            "dst" => B.DestinationOptions(),
            "frag" => B.FragmentHeader(fragmentOffset, more: true, id: 0xCAFE1234),
            _ => throw new ArgumentOutOfRangeException(nameof(chain)),
        })];

    [Fact]
    public void Decode_Ipv6FirstFragment_DecodesTransportAndIpId()
    {
        PacketFacts facts = DecodeOk(LinkTypes.Raw, TcpV6(B.Syn, 23, B.FragmentHeader(0, more: true, id: 0xCAFE1234)));
        Assert.Equal(TrafficClass.TcpSyn, facts.Class);
        Assert.Equal(23, facts.Port);
        Assert.Equal(0x1234, facts.IpId);
        Assert.False(facts.IsFragment);
    }

    [Theory]
    [InlineData("frag", true)]
    [InlineData("frag", false)]
    [InlineData("hbh,frag", true)]
    [InlineData("hbh,dst,rt,frag", false)]
    public void Decode_Ipv6NonFirstFragment_IsFragmentPortZero(string chain, bool more)
    {
        B.Extension[] extensions = Extensions(chain, fragmentOffset: 0);
        extensions[^1] = B.FragmentHeader(185, more, id: 7);
        byte[] ip = B.Ipv6(Src6, Dst6, 17, new byte[64], 64, extensions);
        PacketFacts facts = DecodeOk(LinkTypes.Ethernet, B.Ethernet(ip));
        Assert.Equal(TrafficClass.Fragment, facts.Class);
        Assert.Equal(0, facts.Port);
        Assert.Equal(17, facts.Protocol);
        Assert.True(facts.IsFragment);
        Assert.Equal((uint)ip.Length, facts.IpBytes);
    }

    [Theory]
    [InlineData(6, true)]
    [InlineData(17, false)]
    [InlineData(1, true)]
    public void Decode_Ipv4NonFirstFragment_IsFragmentPortZero(byte protocol, bool more)
    {
        byte[] ip = B.Ipv4(Src4, Dst4, protocol, new byte[48], fragmentOffset: 185, moreFragments: more);
        PacketFacts facts = DecodeOk(LinkTypes.Ipv4, ip);
        Assert.Equal(TrafficClass.Fragment, facts.Class);
        Assert.Equal(0, facts.Port);
        Assert.Equal(0, facts.SourcePort);
        Assert.Equal(protocol, facts.Protocol);
        Assert.True(facts.IsFragment);
        Assert.Equal(68u, facts.IpBytes);
    }

    [Fact]
    public void Decode_Ipv4FirstFragment_DecodesTransport()
    {
        byte[] ip = B.Ipv4(Src4, Dst4, 17, B.Udp(1024, 1900, payload: 1000), moreFragments: true);
        PacketFacts facts = DecodeOk(LinkTypes.Raw, ip);
        Assert.Equal(TrafficClass.Udp, facts.Class);
        Assert.Equal(1900, facts.Port);
        Assert.False(facts.IsFragment);
    }

    [Theory]
    [InlineData(B.Syn, TrafficClass.TcpSyn)]
    [InlineData(B.Syn | B.Fin, TrafficClass.TcpSyn)]
    [InlineData(B.Syn | B.Psh | B.Urg, TrafficClass.TcpSyn)]
    [InlineData(B.Syn | B.Ack, TrafficClass.TcpSynAck)]
    [InlineData(B.Syn | B.Ack | B.Psh, TrafficClass.TcpSynAck)]
    [InlineData(B.Rst, TrafficClass.TcpRst)]
    [InlineData(B.Rst | B.Ack, TrafficClass.TcpRst)]
    [InlineData(B.Syn | B.Rst, TrafficClass.TcpRst)]
    [InlineData(B.Syn | B.Ack | B.Rst, TrafficClass.TcpRst)]
    [InlineData(B.Ack, TrafficClass.TcpOther)]
    [InlineData(B.Fin, TrafficClass.TcpOther)]
    [InlineData(B.Fin | B.Ack, TrafficClass.TcpOther)]
    [InlineData(B.Psh | B.Ack, TrafficClass.TcpOther)]
    [InlineData(0, TrafficClass.TcpOther)]
    [InlineData(B.Fin | B.Psh | B.Urg, TrafficClass.TcpOther)]
    [InlineData(0xFF & ~B.Rst & ~B.Syn, TrafficClass.TcpOther)]
    public void Decode_TcpFlags_ClassifiesPerProductTable(byte flags, TrafficClass expected)
    {
        PacketFacts v4 = DecodeOk(LinkTypes.Ethernet, B.Ethernet(TcpV4(flags, 8080)));
        Assert.Equal(expected, v4.Class);
        Assert.Equal(flags, v4.TcpFlags);
        Assert.Equal(8080, v4.Port);
        PacketFacts v6 = DecodeOk(LinkTypes.Ethernet, B.Ethernet(TcpV6(flags, 8080)));
        Assert.Equal(expected, v6.Class);
        Assert.Equal(8080, v6.Port);
        Assert.Equal(expected, PacketDecoder.ClassifyTcp(flags));
    }

    [Fact]
    public void Decode_TcpHeader_KeepsFingerprintFields()
    {
        byte[] tcp = B.Tcp(61000, 23, B.Syn, seq: 0xCB007105, window: 65535, options: [2, 4, 5, 180]);
        byte[] ip = B.Ipv4(Src4, Dst4, 6, tcp, ipId: 54321, ttl: 255);
        PacketFacts facts = DecodeOk(LinkTypes.Ethernet, B.Ethernet(ip));
        Assert.Equal(0xCB007105u, facts.TcpSequence);
        Assert.Equal(65535, facts.TcpWindow);
        Assert.Equal(4, facts.TcpOptionsLength);
        Assert.Equal(2, facts.TcpFirstOption);
        Assert.Equal(54321, facts.IpId);
        Assert.Equal(255, facts.Ttl);
        Assert.Equal(61000, facts.SourcePort);
    }

    [Fact]
    public void Decode_Udp_IsUdpWithDestinationPort()
    {
        PacketFacts v4 = DecodeOk(LinkTypes.Ipv4, B.Ipv4(Src4, Dst4, 17, B.Udp(40000, 5060)));
        Assert.Equal(TrafficClass.Udp, v4.Class);
        Assert.Equal(5060, v4.Port);
        Assert.Equal(40000, v4.SourcePort);
        PacketFacts v6 = DecodeOk(LinkTypes.Ipv6, B.Ipv6(Src6, Dst6, 17, B.Udp(40000, 5060)));
        Assert.Equal(TrafficClass.Udp, v6.Class);
        Assert.Equal(5060, v6.Port);
    }

    /// <summary>The ICMP and ICMPv6 rows of the product table, written out independently of the decoder.</summary>
    private static TrafficClass ExpectedIcmpClass(bool v6, int type)
    {
        int[] requests = v6 ? [128] : [8, 13, 15, 17];
        int[] backscatter = v6 ? [1, 2, 3, 4, 129] : [0, 3, 4, 5, 11, 12, 14, 16, 18];
        return requests.Contains(type) ? TrafficClass.IcmpRequest
            : backscatter.Contains(type) ? TrafficClass.IcmpBackscatter
            : TrafficClass.IcmpOther;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Decode_EveryIcmpType_ClassAndPortPerProductTable(bool v6)
    {
        for (int type = 0; type < 256; type++)
        {
            byte code = (byte)((type * 7) % 16);
            byte[] icmp = B.Icmp((byte)type, code);
            byte[] ip = v6 ? B.Ipv6(Src6, Dst6, 58, icmp) : B.Ipv4(Src4, Dst4, 1, icmp);
            PacketFacts facts = DecodeOk(LinkTypes.Ethernet, B.Ethernet(ip));
            Assert.Equal(ExpectedIcmpClass(v6, type), facts.Class);
            Assert.Equal((type * 256) + code, facts.Port);
            Assert.Equal(type, facts.IcmpType);
            Assert.Equal(code, facts.IcmpCode);
            Assert.Equal(v6 ? 58 : 1, facts.Protocol);
        }
    }

    [Theory]
    [InlineData(false, 47)]
    [InlineData(false, 50)]
    [InlineData(true, 47)]
    [InlineData(true, 59)]
    public void Decode_OtherProtocol_IsOtherPortZero(bool v6, byte protocol)
    {
        byte[] payload = new byte[24];
        byte[] ip = v6 ? B.Ipv6(Src6, Dst6, protocol, payload) : B.Ipv4(Src4, Dst4, protocol, payload);
        PacketFacts facts = DecodeOk(LinkTypes.Raw, ip);
        Assert.Equal(TrafficClass.Other, facts.Class);
        Assert.Equal(0, facts.Port);
        Assert.Equal(protocol, facts.Protocol);
        Assert.Equal((uint)ip.Length, facts.IpBytes);
    }

    [Theory]
    [InlineData(false, 14 + 20 + 8)]
    [InlineData(false, 64)]
    [InlineData(true, 14 + 40 + 8)]
    [InlineData(true, 96)]
    public void Decode_FrameTruncatedBySnaplen_IpBytesFromHeader(bool v6, int snap)
    {
        byte[] udp = B.Udp(1, 137, payload: 1372);
        byte[] ip = v6 ? B.Ipv6(Src6, Dst6, 17, udp) : B.Ipv4(Src4, Dst4, 17, udp);
        byte[] frame = B.Ethernet(ip)[..snap];
        PacketFacts facts = DecodeOk(LinkTypes.Ethernet, frame);
        Assert.Equal(TrafficClass.Udp, facts.Class);
        Assert.Equal(137, facts.Port);
        Assert.Equal(v6 ? 40u + 1380 : 20u + 1380, facts.IpBytes);
    }

    [Theory]
    [InlineData("arp", DecodeStatus.NonIp)]
    [InlineData("vlan_arp", DecodeStatus.NonIp)]
    [InlineData("sll_arp", DecodeStatus.NonIp)]
    [InlineData("ethernet_short", DecodeStatus.TruncatedLink)]
    [InlineData("vlan_short", DecodeStatus.TruncatedLink)]
    [InlineData("vlan_too_many", DecodeStatus.TruncatedLink)]
    [InlineData("sll_short", DecodeStatus.TruncatedLink)]
    [InlineData("sll2_short", DecodeStatus.TruncatedLink)]
    [InlineData("null_short", DecodeStatus.TruncatedLink)]
    [InlineData("ipv4_short", DecodeStatus.TruncatedIp)]
    [InlineData("ipv4_options_cut", DecodeStatus.TruncatedIp)]
    [InlineData("ipv6_short", DecodeStatus.TruncatedIp)]
    [InlineData("ipv6_extension_cut", DecodeStatus.TruncatedIp)]
    [InlineData("raw_empty", DecodeStatus.TruncatedIp)]
    [InlineData("ipv4_ihl_4", DecodeStatus.BadIpHeader)]
    [InlineData("ipv4_total_below_header", DecodeStatus.BadIpHeader)]
    [InlineData("ethertype_v4_version_6", DecodeStatus.BadIpHeader)]
    [InlineData("ethertype_v6_version_4", DecodeStatus.BadIpHeader)]
    [InlineData("raw_version_5", DecodeStatus.BadIpHeader)]
    [InlineData("tcp_short", DecodeStatus.TruncatedTransport)]
    [InlineData("tcp_cut_by_total_length", DecodeStatus.TruncatedTransport)]
    [InlineData("udp_short", DecodeStatus.TruncatedTransport)]
    [InlineData("icmp_short", DecodeStatus.TruncatedTransport)]
    [InlineData("icmpv6_short", DecodeStatus.TruncatedTransport)]
    [InlineData("unsupported_link", DecodeStatus.UnsupportedLinkType)]
    public void Decode_UndecodableFrame_ReportsReason(string name, DecodeStatus expected)
    {
        (int linkType, byte[] frame) = Undecodable(name);
        Assert.Equal(expected, DecodeStatusOf(linkType, frame));
    }

    private static (int LinkType, byte[] Frame) Undecodable(string name)
    {
        byte[] arp = new byte[28];
        byte[] v4 = TcpV4();
        byte[] v6 = TcpV6();
        switch (name)
        {
            case "arp": return (LinkTypes.Ethernet, B.EthernetWithType(arp, 0x0806));
            case "vlan_arp": return (LinkTypes.Ethernet, B.EthernetWithType(arp, 0x0806, 0x8100));
            case "sll_arp":
                byte[] sll = B.Sll(v4);
                sll[14] = 0x08;
                sll[15] = 0x06;
                return (LinkTypes.LinuxSll, sll);
            case "ethernet_short": return (LinkTypes.Ethernet, B.Ethernet(v4)[..13]);
            case "vlan_short": return (LinkTypes.Ethernet, B.Ethernet(v4, 0x8100)[..15]);
            case "vlan_too_many": return (LinkTypes.Ethernet, B.Ethernet(v4, [.. Enumerable.Repeat((ushort)0x8100, 9)]));
            case "sll_short": return (LinkTypes.LinuxSll, B.Sll(v4)[..15]);
            case "sll2_short": return (LinkTypes.LinuxSll2, B.Sll2(v4)[..19]);
            case "null_short": return (LinkTypes.Null, [2, 0, 0]);
            case "ipv4_short": return (LinkTypes.Ethernet, B.Ethernet(v4)[..(14 + 19)]);
            case "ipv4_options_cut":
                return (LinkTypes.Ipv4, B.Ipv4(Src4, Dst4, 6, B.Tcp(1, 2, B.Syn), options: new byte[40])[..40]);
            case "ipv6_short": return (LinkTypes.Ethernet, B.Ethernet(v6)[..(14 + 39)]);
            case "ipv6_extension_cut": return (LinkTypes.Ipv6, TcpV6(B.Syn, 23, B.HopByHop())[..44]);
            case "raw_empty": return (LinkTypes.Raw, []);
            case "ipv4_ihl_4":
                byte[] ihl = (byte[])v4.Clone();
                ihl[0] = 0x44;
                return (LinkTypes.Ipv4, ihl);
            case "ipv4_total_below_header":
                byte[] total = (byte[])v4.Clone();
                total[2] = 0;
                total[3] = 19;
                return (LinkTypes.Ipv4, total);
            case "ethertype_v4_version_6": return (LinkTypes.Ethernet, B.EthernetWithType(v6, 0x0800));
            case "ethertype_v6_version_4":
                byte[] padded = [.. v4, .. new byte[20]];
                return (LinkTypes.Ethernet, B.EthernetWithType(padded, 0x86DD));
            case "raw_version_5":
                byte[] v5 = (byte[])v4.Clone();
                v5[0] = 0x55;
                return (LinkTypes.Raw, v5);
            case "tcp_short": return (LinkTypes.Raw, v4[..(20 + 19)]);
            case "tcp_cut_by_total_length":
                byte[] cut = (byte[])v4.Clone();
                cut[2] = 0;
                cut[3] = 20 + 12;
                return (LinkTypes.Raw, cut);
            case "udp_short": return (LinkTypes.Raw, B.Ipv4(Src4, Dst4, 17, B.Udp(1, 2))[..(20 + 7)]);
            case "icmp_short": return (LinkTypes.Raw, B.Ipv4(Src4, Dst4, 1, B.Icmp(8, 0))[..21]);
            case "icmpv6_short": return (LinkTypes.Raw, B.Ipv6(Src6, Dst6, 58, B.Icmp(128, 0))[..41]);
            case "unsupported_link": return (147, v4);
            default: throw new ArgumentOutOfRangeException(nameof(name));
        }
    }

    /// <summary>The ingestor reuses one <see cref="PacketFacts"/>: no field may carry over from the packet before.</summary>
    [Theory]
    [InlineData("icmp")]
    [InlineData("udp")]
    [InlineData("fragment4")]
    [InlineData("fragment6")]
    [InlineData("gre")]
    public void Decode_ReusedFactsAfterTcp_NoTransportFieldCarriesOver(string next)
    {
        byte[] ip = next switch
        {
            "icmp" => B.Ipv4(Src4, Dst4, 1, B.Icmp(3, 3)),
            "udp" => B.Ipv4(Src4, Dst4, 17, B.Udp(53, 53)),
            "fragment4" => B.Ipv4(Src4, Dst4, 1, new byte[16], fragmentOffset: 3),
            "fragment6" => B.Ipv6(Src6, Dst6, 58, new byte[16], 64, B.FragmentHeader(3, false, 1)),
            _ => B.Ipv4(Src4, Dst4, 47, new byte[16]),
        };
        PacketFacts fresh = DecodeOk(LinkTypes.Raw, ip);
        var reused = default(PacketFacts);
        Assert.Equal(DecodeStatus.Ok, PacketDecoder.Decode(LinkTypes.Raw, B.Ipv6(Src6, Dst6, 6, B.Tcp(40000, 443, B.Syn | B.Ack, seq: 77, window: 9, options: [2, 4, 5, 180])), ref reused));
        Assert.Equal(DecodeStatus.Ok, PacketDecoder.Decode(LinkTypes.Ethernet, B.Ethernet(B.Ipv4(Src4, Dst4, 1, B.Icmp(8, 1))), ref reused));

        Assert.Equal(DecodeStatus.Ok, PacketDecoder.Decode(LinkTypes.Raw, ip, ref reused));

        Assert.Equal(fresh, reused);
    }

    [Fact]
    public void ClassifyIcmp_ListedAndUnlistedTypes_MatchProductTable()
    {
        for (int type = 0; type < 256; type++)
        {
            Assert.Equal(ExpectedIcmpClass(false, type), PacketDecoder.ClassifyIcmp((byte)type));
            Assert.Equal(ExpectedIcmpClass(true, type), PacketDecoder.ClassifyIcmpV6((byte)type));
        }
    }
}
