//! Reader and writer of the `.aec` container.
//!
//! A `.aec` file holds one image compressed by a learned codec: the id of the
//! model that made it, the image geometry, and the code of every square tile
//! the image was cut into (`code_length` numbers per tile), stored densely or
//! sparsely as `f32` or `f16`, followed by a CRC-32. The byte layout is
//! specified in `format-spec/SPEC.md`; this crate has no machine-learning
//! dependencies.
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
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "arbitrary")]
mod arb;
mod codes;
mod error;
mod file;
mod header;
mod limits;
#[cfg(target_arch = "x86_64")]
mod shuffle;
mod stats;

pub use codes::{Codes, Layout, ParseNameError, Precision};
pub use error::FormatError;
pub use file::AecFile;
pub use header::FileHeader;
pub use limits::Limits;
pub use stats::CodeStats;

/// The four bytes every `.aec` file starts with: `0x8A 'A' 'E' 'C'`.
pub const MAGIC: [u8; 4] = [0x8A, b'A', b'E', b'C'];
/// The only format version this crate reads and writes.
pub const VERSION: u8 = 1;
/// Length of the fixed header that precedes the payload.
pub const HEADER_LEN: usize = 32;
/// Bytes every file has besides its payload: the header plus the 4-byte CRC.
pub const OVERHEAD: usize = 36;
