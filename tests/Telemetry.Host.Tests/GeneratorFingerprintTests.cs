using Telemetry.Core.Decode;
using Telemetry.Host.Simulation;

namespace Telemetry.Host.Tests;

/// <summary>
/// The load generator's realistic mix, decoded and fingerprinted as the service reads it: each
/// scanner's share of the packets is the share the generator writes (25 % Mirai, 15 % SYN scans
/// with a single MSS option and window 1024, 8 % ZMap, 7 % Masscan), within four standard
/// deviations; backscatter and other non-probe packets carry no mark at all, and a packet carries
/// two marks only by chance (a random IP ID meets ZMap's or Masscan's rule once in 65,536).
/// </summary>
public class GeneratorFingerprintTests
{
    private const int Packets = 200_000;

    [Fact]
    public void Of_GeneratorRealisticMix_SharesMatchTheMix()
    {
        var generator = new DarknetTrafficGenerator(0xC6120000, 16, 5000, seed: 5);
        byte[] frame = new byte[DarknetTrafficGenerator.MaxFrameBytes];
        var facts = default(PacketFacts);
        int mirai = 0, zmap = 0, masscan = 0, nmap = 0, several = 0, decoded = 0, nonProbes = 0, markedNonProbes = 0;
        for (int i = 0; i < Packets; i++)
        {
            int length = generator.Next(frame);
            if (PacketDecoder.Decode(LinkTypes.Ethernet, frame.AsSpan(0, length), ref facts) != DecodeStatus.Ok)
            {
                continue;
            }

            decoded++;
            ScannerTraits traits = ScannerFingerprint.Of(facts);
            mirai += (traits & ScannerTraits.Mirai) != 0 ? 1 : 0;
            zmap += (traits & ScannerTraits.ZMap) != 0 ? 1 : 0;
            masscan += (traits & ScannerTraits.Masscan) != 0 ? 1 : 0;
            nmap += (traits & ScannerTraits.Nmap) != 0 ? 1 : 0;
            several += traits != ScannerTraits.None && (traits & (traits - 1)) != 0 ? 1 : 0;
            if (facts.Class is not (TrafficClass.TcpSyn or TrafficClass.Udp or TrafficClass.IcmpRequest))
            {
                nonProbes++;
                markedNonProbes += traits != ScannerTraits.None ? 1 : 0;
            }
        }

        Assert.Equal(Packets, decoded);
        AssertShare(mirai, 0.25, "Mirai");
        AssertShare(nmap, 0.15, "Nmap");
        AssertShare(zmap, 0.08, "ZMap");
        AssertShare(masscan, 0.07, "Masscan");

        Assert.True(nonProbes > Packets / 10, $"only {nonProbes} non-probe packets");
        Assert.Equal(0, markedNonProbes);

        // Two marks on one packet happen only by chance: about 1/65,536 of the SYN probes.
        Assert.True(several <= 20, $"{several} packets carry more than one mark");
    }

    private static void AssertShare(int count, double share, string name)
    {
        double expected = Packets * share;
        double sd = Math.Sqrt(Packets * share * (1 - share));
        Assert.True(Math.Abs(count - expected) <= 4 * sd, $"{name}: {count} of {Packets} packets, expected {expected:F0} ± {4 * sd:F0}");
    }
}
