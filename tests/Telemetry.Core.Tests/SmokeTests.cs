using Telemetry.Core.Decode;
using Telemetry.Testing;

namespace Telemetry.Core.Tests;

public class SmokeTests
{
    [Fact]
    public void Decode_EthernetTcpSyn_IsTcpSyn()
    {
        byte[] frame = PacketBuilder.Ethernet(PacketBuilder.Ipv4("203.0.113.5", "198.51.100.7", 6, PacketBuilder.Tcp(40000, 23, PacketBuilder.Syn)));
        var facts = default(PacketFacts);
        Assert.Equal(DecodeStatus.Ok, PacketDecoder.Decode(LinkTypes.Ethernet, frame, ref facts));
        Assert.Equal(TrafficClass.TcpSyn, facts.Class);
        Assert.Equal(23, facts.Port);
    }
}
