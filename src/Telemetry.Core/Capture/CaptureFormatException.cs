namespace Telemetry.Core.Capture;

/// <summary>Why a capture stream could not be read further.</summary>
public enum CaptureErrorKind
{
    BadMagic,
    RecordTooLong,
    ZeroLengthRecord,
    InconsistentLength,
    UnknownInterface,
    Truncated,
    Compression,
    Io,
}

/// <summary>
/// A capture stream is malformed at <see cref="Offset"/> (bytes from the start of the
/// decompressed stream). Thrown once per stream; the stream is then closed.
/// </summary>
public sealed class CaptureFormatException : Exception
{
    public CaptureFormatException(CaptureErrorKind kind, long offset, string message)
        : base($"{message} at byte offset {offset}")
    {
        Kind = kind;
        Offset = offset;
    }

    public CaptureFormatException()
    {
    }

    public CaptureFormatException(string message)
        : base(message)
    {
    }

    public CaptureFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public CaptureErrorKind Kind { get; }

    public long Offset { get; }

    /// <summary>The metric label for <see cref="Kind"/>.</summary>
    public static string Label(CaptureErrorKind kind) => kind switch
    {
        CaptureErrorKind.BadMagic => "bad_magic",
        CaptureErrorKind.RecordTooLong => "record_too_long",
        CaptureErrorKind.ZeroLengthRecord => "zero_length_record",
        CaptureErrorKind.InconsistentLength => "inconsistent_length",
        CaptureErrorKind.UnknownInterface => "unknown_interface",
        CaptureErrorKind.Compression => "bad_compression",
        CaptureErrorKind.Io => "io_error",
        _ => "truncated",
    };
}
