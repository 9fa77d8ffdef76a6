using System.Buffers;
using System.IO.Compression;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Telemetry.Core.Aggregation;
using Telemetry.Core.Capture;
using Telemetry.Core.Decode;

namespace Telemetry.Core.Ingest;

/// <summary>
/// Reads one capture stream (a file, a sensor's TCP connection, stdin) through a PipeReader:
/// frames records, decodes and classifies them, and hands them to the aggregation shards in
/// batches. A malformed stream is logged with its byte offset, counted, and closed; every
/// packet read before the fault is still handed on.
/// </summary>
public sealed partial class CaptureIngestor
{
    private const int PipeBufferSize = 128 * 1024;

    private readonly AggregationEngine _engine;
    private readonly ITelemetryEvents _events;
    private readonly ILogger _logger;
    private readonly int _maxRecordBytes;

    public CaptureIngestor(AggregationEngine engine, ITelemetryEvents events, ILogger<CaptureIngestor> logger, int maxRecordBytes = CaptureReader.DefaultMaxRecordBytes)
    {
        _engine = engine;
        _events = events;
        _logger = logger;
        _maxRecordBytes = maxRecordBytes;
    }

    /// <summary>Reads <paramref name="stream"/> to its end (or first fault); gzip is recognised by its magic bytes.</summary>
    public async Task<IngestResult> IngestAsync(Stream stream, SensorState sensor, string origin, CancellationToken cancellationToken)
    {
        // Large segments keep most records inside one segment, so few need the straddle copy.
        var options = new StreamPipeReaderOptions(bufferSize: PipeBufferSize, minimumReadSize: PipeBufferSize / 4, leaveOpen: true);
        PipeReader raw = PipeReader.Create(stream, options);
        var session = new Session(_engine, sensor, _maxRecordBytes);
        string? error = null;
        try
        {
            PipeReader reader = raw;
            GZipStream? gzip = null;
            if (await IsGzipAsync(raw, cancellationToken))
            {
                gzip = new GZipStream(raw.AsStream(leaveOpen: true), CompressionMode.Decompress, leaveOpen: true);
                reader = PipeReader.Create(gzip, options);
            }

            try
            {
                await ReadAsync(reader, session, cancellationToken);
            }
            finally
            {
                await reader.CompleteAsync();
                if (gzip is not null)
                {
                    await gzip.DisposeAsync();
                }
            }
        }
        catch (CaptureFormatException ex)
        {
            error = Fault(sensor, origin, ex.Kind, ex.Message, session);
        }
        catch (InvalidDataException ex)
        {
            error = Fault(sensor, origin, CaptureErrorKind.Compression, $"{ex.Message} after {session.Capture.Position} decompressed bytes", session);
        }
        catch (IOException ex)
        {
            error = Fault(sensor, origin, CaptureErrorKind.Io, $"{ex.Message} at byte offset {session.Capture.Position}", session);
        }
        finally
        {
            // Everything accepted before a fault still goes to the shards.
            await session.DispatchAsync(CancellationToken.None);
            session.Capture.Dispose();
            await raw.CompleteAsync();
        }

        return new IngestResult(origin, sensor.Name, session.TotalPackets, session.TotalDecoded, session.TotalBytes, error);
    }

    private string Fault(SensorState sensor, string origin, CaptureErrorKind kind, string message, Session session)
    {
        Interlocked.Increment(ref sensor.CaptureErrors);
        session.Health.CaptureErrors++;
        _events.CaptureError(sensor.Name, CaptureFormatException.Label(kind));
        LogCaptureFault(sensor.Name, origin, message, session.TotalPackets);
        return message;
    }

    private static async ValueTask<bool> IsGzipAsync(PipeReader reader, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (buffer.Length >= 2 || result.IsCompleted)
            {
                bool gzip = false;
                if (buffer.Length >= 2)
                {
                    Span<byte> magic = stackalloc byte[2];
                    buffer.Slice(0, 2).CopyTo(magic);
                    gzip = magic[0] == 0x1F && magic[1] == 0x8B;
                }

                reader.AdvanceTo(buffer.Start);
                return gzip;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static async Task ReadAsync(PipeReader reader, Session session, CancellationToken cancellationToken)
    {
        while (true)
        {
            // Hand on what is batched before waiting for the network, so a quiet sensor's
            // packets and watermark do not sit in a half-full batch.
            if (!reader.TryRead(out ReadResult result))
            {
                await session.DispatchAsync(cancellationToken);
                result = await reader.ReadAsync(cancellationToken);
            }

            ReadOnlySequence<byte> buffer = result.Buffer;
            try
            {
                while (!session.Process(ref buffer))
                {
                    await session.DispatchAsync(cancellationToken);
                }

                if (result.IsCompleted)
                {
                    CaptureReader capture = session.Capture;
                    if (!buffer.IsEmpty || capture.InsideBlock)
                    {
                        throw new CaptureFormatException(CaptureErrorKind.Truncated, capture.RecordStart,
                            $"capture ends inside a record ({capture.Position - capture.RecordStart + buffer.Length} bytes of it present)");
                    }

                    return;
                }
            }
            finally
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Sensor {Sensor}, {Origin}: {Message}; closed after {Packets} packets, which are kept")]
    private partial void LogCaptureFault(string sensor, string origin, string message, long packets);

    /// <summary>The per-stream state: framing, the batches being filled, and counters not yet published.</summary>
    private sealed class Session
    {
        private readonly AggregationEngine _engine;
        private readonly SensorState _sensor;
        private readonly ShardBatch[] _batches;
        private readonly long[] _classPackets = new long[TrafficClasses.Count];
        private readonly long[] _classBytes = new long[TrafficClasses.Count];
        private readonly long _windowNs;
        private long _maxEventNs = long.MinValue;
        private long _packets;
        private long _drops;
        private PacketFacts _facts;

        public Session(AggregationEngine engine, SensorState sensor, int maxRecordBytes)
        {
            _engine = engine;
            _sensor = sensor;
            _windowNs = engine.WindowNs;
            Capture = new CaptureReader(maxRecordBytes);
            _batches = new ShardBatch[engine.ShardCount];
            for (int i = 0; i < _batches.Length; i++)
            {
                _batches[i] = engine.RentBatch();
            }

            // Until the first packet names its window, faults are booked to the current wall-clock window.
            long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
            Health = new HealthRow(sensor.Id, now - Mod(now, _windowNs));
        }

        public CaptureReader Capture { get; }

        public HealthRow Health { get; private set; }

        public long TotalPackets { get; private set; }

        public long TotalDecoded { get; private set; }

        public long TotalBytes { get; private set; }

        /// <summary>Frames and decodes records until the buffer runs out (true) or a batch fills (false).</summary>
        public bool Process(ref ReadOnlySequence<byte> buffer)
        {
            while (Capture.TryReadPacket(ref buffer, out CapturedPacket packet))
            {
                long ts = packet.TimestampNs;
                long window = ts - Mod(ts, _windowNs);
                if (window != Health.WindowStartNs)
                {
                    PublishHealth(window);
                }

                HealthRow health = Health;
                health.PacketsSeen++;
                health.WireBytes += packet.OriginalLength;
                TotalPackets++;
                _packets++;
                _facts.TimestampNs = ts;
                DecodeStatus status = PacketDecoder.Decode(packet.LinkType, packet.Data, ref _facts);
                if (status != DecodeStatus.Ok)
                {
                    health.Undecodable[(int)status]++;
                    continue;
                }

                health.Decoded++;
                TotalDecoded++;
                TotalBytes += _facts.IpBytes;
                _classPackets[(int)_facts.Class]++;
                _classBytes[(int)_facts.Class] += _facts.IpBytes;
                if (ts > _maxEventNs)
                {
                    _maxEventNs = ts;
                }

                var input = RollupInput.From(_facts);
                ShardBatch batch = _batches[_engine.ShardOf(input.Destination)];
                batch.Items[batch.Count++] = input;
                if (batch.IsFull)
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>Hands the health row to the engine and the sensor's totals, and starts a new one.</summary>
        private void PublishHealth(long window)
        {
            HealthRow health = Health;
            if (health.PacketsSeen != 0 || health.CaptureErrors != 0 || health.CaptureDrops != 0)
            {
                _engine.Health.Add(health);
                Interlocked.Add(ref _sensor.PacketsSeen, health.PacketsSeen);
                for (int i = 1; i < health.Undecodable.Length; i++)
                {
                    if (health.Undecodable[i] != 0)
                    {
                        Interlocked.Add(ref _sensor.Undecodable[i], health.Undecodable[i]);
                    }
                }

                Health = new HealthRow(_sensor.Id, window);
            }
            else if (health.WindowStartNs != window)
            {
                Health = new HealthRow(_sensor.Id, window);
            }
        }

        public async ValueTask DispatchAsync(CancellationToken cancellationToken)
        {
            PublishCounters();
            if (_packets == 0)
            {
                return;
            }

            _packets = 0;
            _sensor.ObserveEvent(_maxEventNs);
            long watermark = _sensor.MaxEventNs == long.MinValue ? long.MinValue : _sensor.MaxEventNs - _engine.LatenessNs;
            for (int i = 0; i < _batches.Length; i++)
            {
                ShardBatch batch = _batches[i];
                batch.Sensor = _sensor;
                batch.WatermarkNs = watermark;
                await _engine.DispatchAsync(i, batch, cancellationToken);
                _batches[i] = _engine.RentBatch();
            }

            Volatile.Write(ref _sensor.LastDispatchTicks, Environment.TickCount64);
            Volatile.Write(ref _sensor.HasUnflushedData, 1);
        }

        private void PublishCounters()
        {
            long drops = Capture.ReportedDrops - _drops;
            if (drops > 0)
            {
                _drops = Capture.ReportedDrops;
                Health.CaptureDrops += drops;
                Interlocked.Add(ref _sensor.CaptureDrops, drops);
            }

            PublishHealth(Health.WindowStartNs);

            for (int i = 0; i < _classPackets.Length; i++)
            {
                if (_classPackets[i] != 0)
                {
                    Interlocked.Add(ref _sensor.ClassPackets[i], _classPackets[i]);
                    Interlocked.Add(ref _sensor.ClassBytes[i], _classBytes[i]);
                    _classPackets[i] = 0;
                    _classBytes[i] = 0;
                }
            }
        }

        private static long Mod(long value, long divisor)
        {
            long r = value % divisor;
            return r < 0 ? r + divisor : r;
        }
    }
}
