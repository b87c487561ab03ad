//! The error type of the crate.

/// Everything that can go wrong while reading or writing a `.aec` file.
///
/// Read-side variants say what is wrong and, where it applies, at which byte
/// offset of the input (offsets count from the first byte of the file).
/// Write-side validation failures are reported as [`FormatError::Invalid`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The input ends before a structure that starts at `offset` is complete;
    /// the input would need `needed` more bytes (at least `needed`, for a varint).
    #[error("truncated at byte {offset}: needs {needed} more bytes")]
    Truncated {
        /// Offset of the structure that does not fit.
        offset: usize,
        /// How many bytes are missing.
        needed: usize,
    },
    /// The first four bytes are not the `.aec` magic `8a 41 45 43`.
    #[error("bad magic at byte 0: found {found:02x?}, expected [8a, 41, 45, 43]")]
    BadMagic {
        /// The four bytes found instead.
        found: [u8; 4],
    },
    /// The version byte (offset 4) is not a version this reader knows.
    #[error("unsupported version {version} at byte 4: this reader knows {supported}")]
    UnsupportedVersion {
        /// The version found.
        version: u8,
        /// The versions the reader that failed knows, in words: `"version 1 only"` for
        /// [`crate::AecFile`] and [`crate::FileHeader`], `"version 2 only"` for
        /// [`crate::CodedFile`] and [`crate::CodedHeader`], `"versions 1 and 2"` for
        /// [`crate::AnyFile`] and [`crate::AnyHeader`].
        supported: &'static str,
    },
    /// A reserved bit of the flags byte (offset 5) is set.
    #[error("reserved flag bits set at byte 5: flags are {flags:#04x}, only bit 0 is defined")]
    ReservedFlags {
        /// The whole flags byte.
        flags: u8,
    },
    /// The precision byte (offset 6) holds a reserved value.
    #[error("unsupported precision {value} at byte 6: 0 (f32) and 1 (f16) are defined, the rest are reserved")]
    UnsupportedPrecision {
        /// The precision byte found.
        value: u8,
    },
    /// The channel count (offset 7 in version 1, 6 in version 2) is not 1, 2, 3 or 4.
    #[error("invalid channel count {channels} at byte {offset}: must be 1 to 4")]
    BadChannels {
        /// The channel count found.
        channels: u8,
        /// Offset of the channel count.
        offset: usize,
    },
    /// The kind byte of a version 2 file (offset 5) holds a reserved value.
    #[error("unsupported kind {kind} at byte 5: only kinds 1 (tiled code with a factorized prior), 2 (whole image with a hyperprior) and 3 (the same with a quantization step), each with bit 7 set where an alpha plane follows, 2 and 3 with bit 6 instead where exact blocks follow, and 4 (lossless) are defined")]
    UnsupportedKind {
        /// The kind byte found.
        kind: u8,
    },
    /// A version 2 file with an alpha plane (kind bit 7) whose source had no alpha channel.
    #[error("alpha plane in a file of {channels} channel(s) at byte 6: only 2 (grey and alpha) and 4 (RGBA) carry one")]
    AlphaChannels {
        /// The channel count found.
        channels: u8,
    },
    /// The alpha section's filter byte holds a reserved value.
    #[error("unsupported alpha filter {filter} at byte {offset}: 0 (none), 1 (left), 2 (up), 3 (gradient) and 4 (context-coded) are defined")]
    BadAlphaFilter {
        /// The filter byte found.
        filter: u8,
        /// Its offset.
        offset: usize,
    },
    /// The alpha stream is not a DEFLATE stream or context code of exactly the image's plane.
    #[error("alpha stream at byte {offset}: {reason}")]
    AlphaStream {
        /// Offset of the stream's first byte.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The alpha plane is 255 everywhere: such an image is written without one.
    #[error(
        "alpha stream at byte {offset} holds an opaque plane: such a file carries no alpha plane"
    )]
    OpaqueAlpha {
        /// Offset of the stream's first byte.
        offset: usize,
    },
    /// A lossless file (kind 4) whose header or bitstream does not hold together.
    #[error("lossless file at byte {offset}: {reason}")]
    Lossless {
        /// Offset of the offending field.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A whole-image file's exact-blocks section (kind bit 6) that does not hold together.
    #[error("exact blocks at byte {offset}: {reason}")]
    ExactBlocks {
        /// Offset of the offending field.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A varint (version 2 width or height) is longer than it needs to be: its last byte is
    /// 0 but it is not its only byte.
    #[error("{field} at byte {offset} is a non-minimal varint: it ends with a zero byte")]
    NonMinimalVarint {
        /// Name of the field: `"width"` or `"height"`.
        field: &'static str,
        /// Offset of the varint's first byte.
        offset: usize,
    },
    /// A varint (version 2 width or height) has more than 3 bytes or a value over 65535.
    #[error("{field} at byte {offset} does not fit: a varint of at most 3 bytes and at most 65535 is allowed")]
    VarintOverflow {
        /// Name of the field: `"width"` or `"height"`.
        field: &'static str,
        /// Offset of the varint's first byte.
        offset: usize,
    },
    /// A symbol stream (a version 2 payload) ends with a zero byte, which its canonical form
    /// never does. The offset counts from the start of the file for the file readers, from the
    /// start of the payload for [`crate::decode_symbols`].
    #[error("the symbol stream ends with a zero byte at byte {offset}")]
    TrailingZeroByte {
        /// Offset of the zero byte.
        offset: usize,
    },
    /// The symbol stream cannot be decoded: its value falls outside every symbol's interval
    /// when symbol `index` (of dimension `dimension`) is decoded.
    #[error("invalid symbol stream: symbol {index} (dimension {dimension}) cannot be decoded")]
    StreamInvalid {
        /// Position of the symbol in the stream.
        index: usize,
        /// Its dimension, `index mod code_length`.
        dimension: usize,
    },
    /// The symbol stream decodes to `count` symbols but is not their encoding: bytes are left
    /// over, the stream is longer than any encoding of `count` symbols, or its final bytes are
    /// not the ones the encoder writes.
    #[error("the symbol stream is not the canonical encoding of the {count} symbols it holds")]
    StreamNotCanonical {
        /// The number of symbols decoded (the count asked for).
        count: usize,
    },
    /// A symbol to encode is outside its dimension's alphabet.
    #[error(
        "symbol {index} (dimension {dimension}) is {symbol}, outside its alphabet {min}..={max}"
    )]
    SymbolOutOfRange {
        /// Position of the symbol.
        index: usize,
        /// Its dimension.
        dimension: usize,
        /// The symbol.
        symbol: i32,
        /// The dimension's smallest symbol.
        min: i32,
        /// The dimension's largest symbol.
        max: i32,
    },
    /// A dimension's symbol table is unusable.
    #[error("symbol table of dimension {dimension}: {reason}")]
    BadSymbolTable {
        /// The dimension.
        dimension: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A kind 3 file's quantization step is 0, or 256 (which is written as kind 2).
    #[error("quantization step {step} at byte {offset}: a kind 3 file's step is 1 to 65535 but not 256 (a step of 256 is written as kind 2)")]
    BadStep {
        /// The step found, in 256ths.
        step: u16,
        /// Offset of the step.
        offset: usize,
    },
    /// A size field that must be at least 1 is zero.
    #[error("{field} at byte {offset} is 0: must be at least 1")]
    ZeroField {
        /// Name of the field: `"width"`, `"height"`, `"tile size"` or `"code length"`.
        field: &'static str,
        /// Offset of the field.
        offset: usize,
    },
    /// A reserved byte is not zero.
    #[error("reserved byte {offset} is {value:#04x}: must be 0")]
    ReservedByte {
        /// Offset of the reserved byte.
        offset: usize,
        /// The value found.
        value: u8,
    },
    /// A size declared by the header (or the input itself) is over a [`crate::Limits`] bound.
    #[error("{what} is {value}, over the limit of {limit}")]
    LimitExceeded {
        /// What is too large, e.g. `"width"`, `"tile count"`, `"file length"`.
        what: &'static str,
        /// The declared or actual value.
        value: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The CRC-32 stored in the last four bytes does not match the data.
    #[error("crc mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The CRC found in the file.
        stored: u32,
        /// The CRC of the bytes before it.
        computed: u32,
    },
    /// The payload ends at `offset` but `count` more bytes follow before the CRC.
    #[error("{count} trailing bytes at byte {offset} after the end of the payload")]
    TrailingBytes {
        /// Offset where the payload ends.
        offset: usize,
        /// Number of unexpected bytes.
        count: usize,
    },
    /// A code value is NaN or infinite.
    #[error("non-finite value at byte {offset} (tile {tile}, index {index})")]
    NonFinite {
        /// Offset of the value.
        offset: usize,
        /// Tile number, in raster order.
        tile: usize,
        /// Position of the value in the tile's code.
        index: usize,
    },
    /// A sparse tile stores a value that is +0 or -0 (zeros must be left out).
    #[error("stored zero at byte {offset} (tile {tile}, index {index}): a sparse tile must leave zeros out")]
    StoredZero {
        /// Offset of the value.
        offset: usize,
        /// Tile number.
        tile: usize,
        /// Position of the value in the tile's code.
        index: usize,
    },
    /// A sparse tile claims more stored values than the code length.
    #[error("sparse tile {tile} at byte {offset} declares {k} stored values but the code length is {code_length}")]
    TooManyValues {
        /// Offset of the tile's `k` field.
        offset: usize,
        /// Tile number.
        tile: usize,
        /// The stored-value count found.
        k: usize,
        /// The code length from the header.
        code_length: usize,
    },
    /// A sparse index list is not strictly increasing.
    #[error("index {index} at byte {offset} (tile {tile}) is not greater than the previous index {previous}: indices must be strictly increasing")]
    UnsortedIndices {
        /// Offset of the index.
        offset: usize,
        /// Tile number.
        tile: usize,
        /// The index found.
        index: usize,
        /// The index before it.
        previous: usize,
    },
    /// A sparse index is not below the code length.
    #[error("index {index} at byte {offset} (tile {tile}) is out of range: the code length is {code_length}")]
    IndexOutOfRange {
        /// Offset of the index.
        offset: usize,
        /// Tile number.
        tile: usize,
        /// The index found.
        index: usize,
        /// The code length from the header.
        code_length: usize,
    },
    /// A sparse bitmap does not have exactly `k` bits set.
    #[error(
        "bitmap at byte {offset} (tile {tile}) has {found} bits set but the tile declares {k}"
    )]
    BitmapCount {
        /// Offset of the bitmap.
        offset: usize,
        /// Tile number.
        tile: usize,
        /// The tile's declared stored-value count.
        k: usize,
        /// Bits set in the bitmap.
        found: usize,
    },
    /// A sparse bitmap has bits set past the code length.
    #[error("bitmap at byte {offset} (tile {tile}) has padding bits set past the code length")]
    BitmapPadding {
        /// Offset of the bitmap's last byte.
        offset: usize,
        /// Tile number.
        tile: usize,
    },
    /// An [`crate::AecFile`] cannot be written because a field is out of range
    /// or inconsistent.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An I/O error from the underlying reader or writer.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
