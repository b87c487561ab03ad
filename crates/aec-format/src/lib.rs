//! Reader and writer of the `.aec` container.
//!
//! A `.aec` file holds one image compressed by a learned codec: the id of the
//! model that made it, the image geometry, and the code of every square tile
//! the image was cut into (`code_length` numbers per tile), followed by a CRC-32.
//! In version 1 ([`AecFile`]) the code is stored densely or sparsely as `f32` or
//! `f16`; in version 2 ([`CodedFile`]) it is integer symbols, range-coded with
//! the model's fixed per-dimension distributions ([`SymbolTables`],
//! [`encode_symbols`], [`decode_symbols`]). [`AnyFile`] and [`AnyHeader`] read
//! either. The byte layout is specified in `format-spec/SPEC.md`; this crate has
//! no machine-learning dependencies.
//!
//! Reading is strict: every file has exactly one valid encoding, so
//! `AecFile::from_bytes(b)?.to_bytes()? == b` for every accepted `b`, and
//! the reader checks all declared sizes against [`Limits`] and the input
//! length before it allocates.
//!
//! ```
//! use aec_format::{AecFile, Codes, Layout, Precision};
//!
//! // A 40 × 20 image cut into 32-pixel tiles: 2 × 1 tiles of 4 values each.
//! let file = AecFile {
//!     model_id: [0x5a; 16],
//!     width: 40,
//!     height: 20,
//!     channels: 3,
//!     tile_size: 32,
//!     code_length: 4,
//!     layout: Layout::Sparse,
//!     codes: Codes::from_f32(&[0.0, 1.5, 0.0, -2.0, 0.0, 0.0, 0.0, 0.25], Precision::F16),
//! };
//! let bytes = file.to_bytes()?;
//! assert_eq!(bytes.len(), file.encoded_len());
//! assert_eq!(&bytes[..4], &aec_format::MAGIC);
//!
//! let back = AecFile::from_bytes(&bytes)?;
//! assert_eq!(back, file);
//! assert_eq!(back.tile_count(), 2);
//! assert_eq!(back.codes.to_f32()[7], 0.25);
//!
//! // Any damage is caught, at the latest by the CRC.
//! let mut damaged = bytes.clone();
//! damaged[33] ^= 0x10;
//! assert!(AecFile::from_bytes(&damaged).is_err());
//! # Ok::<(), aec_format::FormatError>(())
//! ```
//!
//! Version 2: symbols, their stream, and the file around it.
//!
//! ```
//! use aec_format::{
//!     decode_symbols, encode_symbols, AnyFile, CodedFile, ModelKind, SymbolTable, SymbolTables,
//! };
//!
//! // A model with 32-pixel tiles and 2 symbols per tile: dimension 0 is -1, 0 or 1
//! // (0 with probability 3/4), dimension 1 is 0 or 1 (equally likely).
//! let tables = SymbolTables::new(vec![
//!     SymbolTable { min_symbol: -1, probabilities: vec![1 << 21, 3 << 22, 1 << 21] },
//!     SymbolTable { min_symbol: 0, probabilities: vec![1 << 23, 1 << 23] },
//! ])?;
//! // A 40 × 20 image: 2 × 1 tiles, 4 symbols.
//! let symbols = [0, 1, -1, 0];
//! let file = CodedFile {
//!     kind: ModelKind::TiledFactorized,
//!     channels: 3,
//!     model_id: [0x5a; 8],
//!     width: 40,
//!     height: 20,
//!     step: aec_format::UNIT_STEP,
//!     alpha: None,
//!     exact: None,
//!     payload: encode_symbols(&symbols, &tables)?,
//! };
//! let bytes = file.to_bytes()?;
//! assert_eq!(bytes.len(), 17 + file.payload.len() + 4);
//!
//! let AnyFile::V2(back) = AnyFile::from_bytes(&bytes)? else { unreachable!() };
//! let count = back.header().symbol_count(32, tables.code_length(), &Default::default())?;
//! let mut decoded = Vec::new();
//! decode_symbols(&back.payload, &tables, count, &mut decoded)?;
//! assert_eq!(decoded, symbols);
//! # Ok::<(), aec_format::FormatError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod alpha;
mod alpha_context;
mod any;
#[cfg(feature = "arbitrary")]
mod arb;
mod blocks;
mod coded;
mod codes;
mod error;
mod escape;
mod file;
mod header;
mod limits;
mod lossless;
#[cfg(target_arch = "x86_64")]
mod shuffle;
mod stats;
mod symbols;

pub use alpha::{AlphaFilter, AlphaPlane, ALPHA_FLAG, ALPHA_HEAD_LEN, MAX_INFLATE_RATIO};
pub use alpha_context::MAX_CONTEXT_PIXELS;
pub use any::{AnyFile, AnyHeader};
pub use blocks::{ExactBlocks, EXACT_BLOCK, EXACT_FLAG};
pub use coded::{
    CodedFile, CodedHeader, ModelKind, CODED_HEADER_MAX_LEN, CODED_WIDTH_OFFSET, UNIT_STEP,
    VERSION_CODED,
};
pub use codes::{Codes, Layout, ParseNameError, Precision};
pub use error::FormatError;
pub use escape::{bit_table, decode_value, encode_value, plain_interval, EscapeBudget};
pub use file::AecFile;
pub use header::FileHeader;
pub use limits::Limits;
pub use lossless::{vp8l_of_webp, LosslessPixels, Vp8lHeader, LOSSLESS_MAX_SIDE, VP8L_HEADER_LEN};
pub use stats::CodeStats;
pub use symbols::{
    decode_symbols, encode_symbols, Interval, SymbolDecoder, SymbolEncoder, SymbolTable,
    SymbolTables, MAX_ALPHABET, PROBABILITY_BITS, PROBABILITY_TOTAL,
};
#[doc(hidden)]
pub use symbols::{encode_symbols_sealed, SealCase};

/// The four bytes every `.aec` file starts with: `0x8A 'A' 'E' 'C'`.
pub const MAGIC: [u8; 4] = [0x8A, b'A', b'E', b'C'];
/// The version byte of the files [`AecFile`] reads and writes (code values per tile);
/// version 2 is [`VERSION_CODED`].
pub const VERSION: u8 = 1;
/// Length of the fixed header of a version 1 file.
pub const HEADER_LEN: usize = 32;
/// Bytes every version 1 file has besides its payload: the header plus the 4-byte CRC.
pub const OVERHEAD: usize = 36;
