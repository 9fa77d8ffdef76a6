using BenchmarkDotNet.Attributes;
using Telemetry.ClickHouse;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Decode;
using Telemetry.Core.Net;

namespace Telemetry.Benchmarks;

/// <summary>
/// The ClickHouse sink's RowBinary encoding, straight from one window's tables, in chunks of a
/// million rows as the sink takes them, each encoded 64 KiB at a time as its request body is
/// (no network). Each operation is one row (<c>OperationsPerInvoke</c>), so the mean is time per
/// row and <c>Allocated</c> is bytes per row; the chunk's room is grown once, in the setup.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class RowBinaryBenchmarks
{
    /// <summary>Target rows: 250,000 addresses (a /14) × 4 ports; as many source rows.</summary>
    private const int Rows = 1_000_000;

    /// <summary>Rows per INSERT: ClickHouse:MaxRowsPerInsert's default.</summary>
    private const int ChunkRows = 1_000_000;
    private readonly RowOrder _rowOrder = new();
    private const long T0 = 1_763_596_800_000_000_000;

    private readonly RowChunk _chunk = new();
    private readonly byte[] _body = new byte[64 * 1024];
    private RollupBatch _batch = null!;
    private ITableRowWriter _targets = null!;
    private ITableRowWriter _ports = null!;
    private ITableRowWriter _sources = null!;

    /// <summary>
    /// False: addresses arrive in ascending order, so the sorted rows walk the entries in order.
    /// True: they arrive in a random order, as on a darknet, so the sorted rows visit the entries
    /// at random (a miss to memory per row unless prefetched).
    /// </summary>
    [Params(false, true)]
    public bool Shuffled { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var tables = new WindowTables(0, T0);
        ushort[] ports = [23, 445, 22, 80];
        int[] address = Enumerable.Range(0, Rows / 4).ToArray();
        if (Shuffled)
        {
            new Random(7).Shuffle(address);
        }

        for (int i = 0; i < Rows; i++)
        {
            // Every target row has its own address and port; source i / 4 sends to target i / 4 on four ports.
            uint n = (uint)address[i / 4];
            tables.Add(new RollupInput
            {
                TimestampNs = T0 + ((long)i * 59_000),
                Source = IpAddr.FromV4(0x2D000000u + n),
                Destination = IpAddr.FromV4(0xC6100000u + n),
                IpBytes = 40 + (uint)(i % 20),
                Port = ports[i % 4],
                Protocol = 6,
                Class = TrafficClass.TcpSyn,
            });
        }

        if (tables.Targets.Count != Rows || tables.Sources.Count != Rows / 4 * 4)
        {
            throw new InvalidOperationException("unexpected key count");
        }

        var sensors = new SensorRegistry(4);
        sensors.GetOrAdd("bench-sensor");
        _batch = new RollupBatch(sensors, 60_000_000_000, [tables], []);
        ITableRowWriter[] writers = ClickHouseSink.Writers(new SensorNameCache());
        _targets = writers[0];
        _ports = writers[1];
        _sources = writers[2];

        // Grow the chunk's room and encode each sensor name once, outside the measurement.
        Encode(_targets);
        Encode(_sources);
    }

    /// <summary>The floor: walking the target table and reading every value, writing nothing.</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public ulong TargetTableWalk()
    {
        ulong sum = 0;
        KeyTable<CompactAddressKey, TargetStats> rows = _batch.Windows[0].Targets.Stored;
        for (int i = 0; i < rows.Count; i++)
        {
            ref TableEntry<CompactAddressKey, TargetStats> pair = ref rows.EntryAt(i);
            sum += pair.Value.Packets + pair.Key.Address + pair.Value.Sources;
        }

        return sum;
    }

    /// <summary>Putting the target rows in the table's sorting-key order (part of <see cref="TargetRows"/>).</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public int TargetOrder() => _rowOrder.Sort(_batch.Windows[0].Targets)[0];

    [Benchmark(OperationsPerInvoke = Rows)]
    public long TargetRows() => Encode(_targets);

    [Benchmark(OperationsPerInvoke = Rows)]
    public long SourceRows() => Encode(_sources);

    /// <summary>Only four port rows, but each counts distinct sources and targets; per port row.</summary>
    [Benchmark(OperationsPerInvoke = 4)]
    public long PortRows() => Encode(_ports);

    private long Encode(ITableRowWriter writer)
    {
        long bytes = 0;
        writer.Start(_batch);
        while (writer.Take(_chunk, ChunkRows) > 0)
        {
            var cursor = default(ChunkCursor);
            int n;
            while ((n = writer.Encode(_chunk, ref cursor, _body)) > 0)
            {
                bytes += n;
            }
        }

        return bytes;
    }
}
